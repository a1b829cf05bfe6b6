#!/usr/bin/env bash
# How well the ratings predict (issue 21 item 4), on two simulated worlds with hidden skills: the demo world
# (demo_world's defaults: 3 servers, 36 players, seed 1: teams of 4-5) and a second one with another seed and
# bigger teams (2 servers, 64 players, seed 2: teams of 10-12). Each world plays MATCHES matches through the front
# door of its own fresh stack (demo_world --fast: the demo's simulation and events on a simulated clock), then
# `ratingd evaluate --skills` replays them and scores the held-out last 25%.
#
# Usage: tests/bench/ratings_eval.sh [MATCHES]   (default 2000; MOHSTATS_BIN_DIR as for the tests; RATING_BETA=...
#        evaluates with another beta). 2,000 matches a world took ~25 min on the loaded 2-core machine.
#        RATINGS_EVAL_WORLDS="demo second" (the default) names the worlds to play. RATINGS_EVAL_SEEDS="S1 S2" plays
#        them with other seeds (in the order of the worlds; the defaults 1 and 2 informed the model's choices, so a
#        frozen model is measured on seeds nobody has looked at). RATINGS_EVAL_FFA="F1 F2" makes those shares of
#        the worlds' matches free-for-all (demo_world --ffa, in the order of the worlds; default 0). RATINGS_EVAL_KEEP=1 leaves each
#        world's stack up and prints its directory, so that `ratingd evaluate --skills DIR/skills.txt` can be run
#        again on the played history (seconds) with another binary or setting: source DIR/stack.env first, and
#        `scripts/stack.sh down DIR` when done. RATINGS_EVAL_PLAY_ONLY=1 plays and keeps the worlds without
#        evaluating them: fresh worlds can be played while the model is still being changed, and evaluated once
#        with the frozen binary (nobody has seen a figure of them before).
# Prints each world's evaluation, then one JSON object per world on a line starting with "RESULT " (the figures of
# `ratingd evaluate --json` plus the world's settings and the run's load average and commit).
set -euo pipefail
MATCHES=${1:-2000}
SRC_DIR=$(cd "$(dirname "$0")/../.." && pwd)
BIN_DIR=${MOHSTATS_BIN_DIR:-$SRC_DIR/build}
COMMIT=$(git -C "$SRC_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIR=""
PLAY_ONLY=${RATINGS_EVAL_PLAY_ONLY:-0}
KEEP=${RATINGS_EVAL_KEEP:-$PLAY_ONLY}
WORLDS=${RATINGS_EVAL_WORLDS:-demo second}
read -r -a SEEDS <<<"${RATINGS_EVAL_SEEDS:-}"
read -r -a FFAS <<<"${RATINGS_EVAL_FFA:-}"
cleanup() {
  if [ -n "$DIR" ] && [ "$KEEP" = 1 ]; then
    echo "ratings_eval: stack kept up in $DIR (skills in $DIR/skills.txt)" >&2
  elif [ -n "$DIR" ]; then
    "$SRC_DIR/scripts/stack.sh" down "$DIR" >/dev/null 2>&1 || true
    rm -rf "$DIR"
  fi
}
trap cleanup EXIT

# world NAME DEMO_WORLD_OPTIONS...: one world on a fresh stack, evaluated.
world() {
  local name=$1
  shift
  DIR=$(mktemp -d /tmp/mohstats-ratings-eval.XXXXXX)
  # No byte budgets: the simulated clock sends days of play in minutes.
  INGEST_SERVER_BYTES_PER_S=0 INGEST_LARGE_BYTES_PER_S=0 "$SRC_DIR/scripts/stack.sh" up "$DIR" --port 0 >/dev/null
  (
    set -a
    # shellcheck disable=SC1091
    . "$DIR/stack.env"
    set +a
    q() { curl -sS --fail-with-body --data-binary "$1" "$CLICKHOUSE_URL"; }
    local t0=$EPOCHREALTIME
    "$BIN_DIR/demo_world" --url "$MOHSTATS_URL" --fast --matches "$MATCHES" --skills "$DIR/skills.txt" "$@" \
      >"$DIR/logs/demo.log" 2>&1
    local ended refused
    ended=$(sed -n 's/^demo_world: \([0-9]*\) matches ended$/\1/p' "$DIR/logs/demo.log")
    refused=$(sed -n 's/^demo_world: stopped: .* sent, \([0-9]*\) batches refused$/\1/p' "$DIR/logs/demo.log")
    if [ -z "$ended" ]; then
      echo "ratings_eval: demo_world of the $name world did not finish: $(tail -n 3 "$DIR/logs/demo.log")" >&2
      exit 1
    fi
    if [ "$refused" != 0 ]; then
      echo "ratings_eval: the front door refused ${refused:-?} batches of the $name world: $(tail -n 3 "$DIR/logs/demo.log")" >&2
      exit 1
    fi
    # Every match_end the world sent is in ClickHouse, and nothing more arrives.
    local n=-1 prev=-2
    until [ "$(q "SELECT count() FROM raw_events WHERE event_type = 'match_end'")" -ge "$ended" ] && [ "$n" = "$prev" ]; do
      prev=$n
      n=$(q 'SELECT count() FROM raw_events')
      sleep 2
    done
    local took
    took=$(awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN { printf "%.0f", a - b }')
    echo "== $name ($*): $ended matches, $n events played and stored in $took s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
    [ "$PLAY_ONLY" = 1 ] && exit 0
    "$BIN_DIR/ratingd" evaluate --skills "$DIR/skills.txt" --json "$DIR/eval.json"
    jq -c --arg world "$name" --arg options "$*" --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" --arg commit "$COMMIT" \
      '{world: $world, options: $options, load: $load, commit: $commit} + .' "$DIR/eval.json" | sed 's/^/RESULT /'
  )
  cleanup
  DIR=""
}

k=0
for w in $WORLDS; do
  seed=${SEEDS[$k]:-} ffa=${FFAS[$k]:-0}
  k=$((k + 1))
  case $w in
  demo) world demo --seed "${seed:-1}" --ffa "$ffa" ;;
  second) world second --seed "${seed:-2}" --servers 2 --players 64 --ffa "$ffa" ;;
  *) echo "ratings_eval: unknown world '$w' (demo, second)" >&2; exit 2 ;;
  esac
done
