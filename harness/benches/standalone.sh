#!/usr/bin/env bash
# Client CPU per record (issue 14's method): a full import by `harness import`
# against a standalone `harness simulate`, so the simulator's CPU is not
# counted. Prints the import process's user+sys CPU and µs per record.
#
#   cargo build --release -p harness
#   harness/benches/standalone.sh [WORKERS] [ORGS] [API] [MODE]
#     API: rest (default) or soap; MODE: full (default) or nochange (a full
#     run, then a delta that changes nothing, measured)
#   SHAPE=published: the simulator's records carry only the published
#     fields (no update times), so a delta re-reads every record unchanged
#   PERF_OUT=file: record a `perf` profile of the measured run
#   CALLGRIND_OUT=file: run it under valgrind's callgrind instead and also
#     print its instructions per record: a count that does not drift with
#     the VM's speed (user space only; run 20000 1000, it is ~50x slower)
#
# MaxRequestsPerHour is 10,000,000 so the client-side limiter never binds.
set -euo pipefail
W=${1:-100000}; O=${2:-5000}; API=${3:-rest}; MODE=${4:-full}
H=${HARNESS:-target/release/harness}
D=$(mktemp -d); trap 'kill $SIM 2>/dev/null || true; rm -rf "$D"' EXIT
"$H" simulate --workers "$W" --orgs "$O" --shape "${SHAPE:-rich}" --port 0 >"$D/banner" 2>"$D/sim.err" &
SIM=$!
for _ in $(seq 300); do grep -q 'API base' "$D/banner" 2>/dev/null && grep -q 'ISU password' "$D/banner" && break; sleep 0.1; done
URL=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$D/banner")
if [ "$API" = soap ]; then
  AUTH='"Api":"Soap","IsuUsername":"isu_idmesh@acme","IsuPasswordRef":"secret://workday/acme/isupassword",'
else
  AUTH='"ClientId":"idmesh-demo-client",'
fi
cat >"$D/config.json" <<JSON
{"BaseUrl":"$URL","TenantName":"acme","Realm":"acme",$AUTH"PageSize":100,
 "ImportWorkers":true,"ImportOrganizations":true,"ImportPositions":false,
 "ExternalIdAttribute":"id","MaxRequestsPerHour":10000000}
JSON
cat >"$D/secrets.json" <<JSON
{"secret://workday/acme/clientsecret":"demo-secret-not-real",
 "secret://workday/acme/isupassword":"demo-isu-password-not-real"}
JSON
chmod 600 "$D/secrets.json"
run() {
  if [ -n "${PERF_OUT:-}" ]; then PERF="perf record -F 999 -g -o $PERF_OUT --"; else PERF=""; fi
  # The measured run: the full one, or with nochange the delta.
  if [ -n "${CALLGRIND_OUT:-}" ] && { [ "$MODE" = full ] || [ "$1" = delta ]; }; then
    PERF="valgrind --tool=callgrind --callgrind-out-file=$CALLGRIND_OUT"
  fi
  /usr/bin/time -f "%U %S %e %M" -o "$D/time" $PERF "$H" import --config "$D/config.json" \
    --secrets-file "$D/secrets.json" --state "$D/state.db" --mode "$1" >"$D/out" 2>"$D/err" \
    || { cat "$D/err" >&2; exit 1; }
}
run full
if [ "$MODE" = nochange ]; then run delta; fi
read -r U S E M <"$D/time"
N=$(grep -oE '[0-9,]+ (changes|records)' "$D/out" | head -1 | tr -d ',' | cut -d' ' -f1 || true)
R=$((W + O))
if [ -n "${CALLGRIND_OUT:-}" ]; then
  awk -v r="$R" '/^summary:/ { printf "instructions=%.0f per_record=%.0f\n", $2, $2 / r }' "$CALLGRIND_OUT"
fi
awk -v u="$U" -v s="$S" -v e="$E" -v m="$M" -v r="$R" -v mode="$MODE" -v api="$API" 'BEGIN {
  printf "api=%s mode=%s records=%d user=%.2fs sys=%.2fs cpu=%.2fs wall=%.2fs maxrss=%.1fMiB us_per_record=%.2f\n",
    api, mode, r, u, s, u+s, e, m/1024, (u+s)*1e6/r }'
