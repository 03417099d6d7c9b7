#!/usr/bin/env bash
# Issue 14's side-by-side: the plain Python pager (naive_pager.py) and the
# REST import (standalone.sh), alternated PAIRS times so that both see the
# same machine speed (a VM's speed drifts; only ratios within a pair mean
# anything). Prints each pair's CPU seconds (user+sys) and ratio, then the
# median ratio.
#
#   cargo build --release -p harness
#   harness/benches/vs_python.sh [PAIRS] [WORKERS] [ORGS]
#
# Needs python3 with `requests`. HARNESS= picks the binary, as for
# standalone.sh (which starts its own simulator per run; the pager reads
# one started here). MaxRequestsPerHour is 10,000,000 in both, so no
# client-side limiter binds.
set -euo pipefail
PAIRS=${1:-8}; W=${2:-100000}; O=${3:-5000}
H=${HARNESS:-target/release/harness}
HERE=$(cd "$(dirname "$0")" && pwd)
D=$(mktemp -d); trap 'kill $SIM 2>/dev/null || true; rm -rf "$D"' EXIT
"$H" simulate --workers "$W" --orgs "$O" --port 0 >"$D/banner" 2>"$D/sim.err" &
SIM=$!
for _ in $(seq 300); do grep -q 'API base' "$D/banner" 2>/dev/null && break; sleep 0.1; done
URL=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$D/banner")
for i in $(seq "$PAIRS"); do
  rm -f "$D"/naive.db*
  /usr/bin/time -f "%U %S" -o "$D/py" python3 "$HERE/naive_pager.py" "$URL" "$D/naive.db" >/dev/null
  PY=$(awk '{ printf "%.2f", $1 + $2 }' "$D/py")
  RS=$(HARNESS="$H" "$HERE/standalone.sh" "$W" "$O" | sed -n 's/.* cpu=\([0-9.]*\)s.*/\1/p')
  echo "$PY $RS" | awk -v i="$i" '{ printf "pair %d: python %.2fs import %.2fs ratio %.2f\n", i, $1, $2, $1 / $2 }'
done | tee "$D/pairs"
awk '{ print $NF }' "$D/pairs" | sort -n | awk '{ r[NR] = $1 } END {
  m = (NR % 2) ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2
  printf "median ratio over %d pairs: %.2f (min %.2f, max %.2f)\n", NR, m, r[1], r[NR] }'
