#!/bin/sh
# demo_keep.sh: `medic demo --keep` leaves a working cluster behind and the stop script it prints
# stops every process of it and removes its directory. Usage: demo_keep.sh MEDIC_BINARY
set -eu
medic=${1:?usage: demo_keep.sh MEDIC_BINARY}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$medic" demo --keep >"$out" 2>&1 || { cat "$out"; echo "FAIL: medic demo --keep exited non-zero"; exit 1; }
stop=$(sed -n 's/^To stop it: //p' "$out")
node=$(sed -n 's/.* status --node \(http:[^ ]*\).*/\1/p' "$out" | head -n 1)
dir=$(dirname "$stop")
[ -x "$stop" ] || { cat "$out"; echo "FAIL: no stop script printed"; exit 1; }
pids=$(grep -o '[0-9][0-9]*' "$stop" | sort -u | tr '\n' ' ')
# The cluster outlived the demo: the node answers and names a leader.
"$medic" status --node "$node" --json >"$out.status" || { "$stop"; echo "FAIL: the kept node does not answer"; exit 1; }
grep -Eq '"leader":[[:space:]]*"n[123]"' "$out.status" || { "$stop"; echo "FAIL: no leader in the kept cluster"; exit 1; }
rm -f "$out.status"
"$stop"
for pid in $pids; do
  if kill -0 "$pid" 2>/dev/null && grep -q "medic\|flaky" "/proc/$pid/cmdline" 2>/dev/null; then
    echo "FAIL: process $pid still runs after the stop script"
    kill -KILL "$pid"
    exit 1
  fi
done
[ ! -e "$dir" ] || { echo "FAIL: $dir was not removed"; exit 1; }
echo "demo --keep ok: the cluster outlived the demo and its stop script stopped it"
