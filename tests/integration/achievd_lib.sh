# shellcheck shell=bash
# Helpers for the tests of achievd: tracker events sent through ingestd's API as the stock tracker sends them,
# and what the forum's tables say. Source after lib.sh, once TOKEN (a registered server's token) and SESSION (a
# tracker session id) are set.

# kill_ev ATTACKER_GUID VICTIM_GUID TIME [WEAPON HITLOC MOD [MATCH]]: one player_kill object. A GUID of digits is a
# logged-in member (it is sent as *_smf_id too, as the tracker does); attacker at the origin facing +x, victim
# 100 units ahead facing it.
kill_ev() {
  local a=$1 v=$2 t=$3 w=${4:-Kar98} h=${5:-torso_upper} mod=${6:-bullet} match=${7:-no_match}
  local asmf="" vsmf=""
  [[ $a =~ ^[0-9]+$ ]] && asmf=",\"attacker_smf_id\":\"$a\""
  [[ $v =~ ^[0-9]+$ ]] && vsmf=",\"victim_smf_id\":\"$v\""
  printf '{"type":"player_kill","match_id":"%s","session_id":"%s","timestamp":"%s","attacker_guid":"%s"%s,"attacker_name":"A%s","attacker_team":"american","attacker_x":"0","attacker_y":"0","attacker_z":"0","attacker_yaw":"0","attacker_stance":"stand","victim_guid":"%s"%s,"victim_name":"V%s","victim_team":"german","victim_x":"100","victim_y":"0","victim_z":"0","victim_yaw":"180","weapon":"%s","hitloc":"%s","mod":"%s","damage":"100"}' \
    "$match" "$SESSION" "$t" "$a" "$asmf" "$a" "$v" "$vsmf" "$v" "$w" "$h" "$mod"
}

# send OBJECT...: POST the objects as one batch; fails unless ingestd answers 202 (a test counting what it sent
# must know it was accepted).
send() {
  local IFS=,
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X POST "$MOHSTATS_URL/api/v1/ingest/events" \
    -H 'Content-Type: application/json' -H "X-Server-Token: $TOKEN" --data-binary "[$*]")
  [ "$code" = 202 ] || {
    echo "send: ingestd answered $code"
    return 1
  }
}

unlocked() { # MEMBER CODE [PREFIX]: the number of unlock rows (0 or 1)
  mdb_query "SELECT COUNT(*) FROM ${3:-smf_}mohaa_player_achievements p JOIN ${3:-smf_}mohaa_achievement_defs d
             ON d.id_achievement = p.id_achievement WHERE p.id_member = $1 AND d.code = '$2'"
}

progress() { # MEMBER CODE: current_progress, or empty
  mdb_query "SELECT p.current_progress FROM smf_mohaa_achievement_progress p JOIN smf_mohaa_achievement_defs d
             ON d.id_achievement = p.id_achievement WHERE p.id_member = $1 AND d.code = '$2'"
}
