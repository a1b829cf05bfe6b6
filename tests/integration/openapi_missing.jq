# The fields an answer lacks that docs/openapi.json requires of it, one path a line ("players[0].kills"), at every
# depth (an array's first element stands for the others). test_dashboard.sh runs it on real answers:
#   jq -r --slurpfile doc docs/openapi.json --arg path /stats/global -f tests/integration/openapi_missing.jq <answer
def resolve: if has("$ref") then . as $s | $doc[0] | getpath($s["$ref"] | ltrimstr("#/") | split("/")) else . end;
def missing($schema; $at):
  ($schema | resolve) as $s
  | if ($s.type == "object") and (type == "object") then
      . as $v
      | ([($s.required // [])[] | . as $k | select($v | has($k) | not) | "\($at).\($k)"]
         + [($s.properties // {}) | to_entries[] | . as $p | select($v | has($p.key))
            | ($v[$p.key] | missing($p.value; "\($at).\($p.key)"))[]])
    elif ($s | has("oneOf")) then
      # One of several answers (a leaderboard by a stat or by rating): none missing if one alternative has all.
      [$s.oneOf[] as $alt | missing($alt; $at)] as $each
      | if any($each[]; length == 0) then [] else $each[0] end
    elif ($s.type == "array") and (type == "array") and (length > 0) then
      .[0] | missing($s.items; "\($at)[0]")
    else [] end;
missing($doc[0].paths[$path].get.responses["200"].content["application/json"].schema; "") | .[]
