#!/bin/bash
# Wait up to $1 seconds for the same-steps pipeline to finish (or, with $2, for a stage line
# matching it), then print its stages and log tails and pack its small files (run.json,
# eval.json, logs, the report and speed.json; no snapshots) into $OUT/ssrun.tgz.
# Call it without carrying $R: a carried path replaces the machine's copy, and with it the
# runs in progress (a bfloat16 run was lost that way on 2026-12-07).
cd "$(dirname "$0")/../.." || exit 1
R=${R:-.device_data/ssrun}
for _ in $(seq 1 $(( ${1:-0} / 5 ))); do
  [ -f $R/DONE ] && break
  [ -n "$2" ] && grep -q "$2" $R/stages.txt 2>/dev/null && break
  sleep 5
done
cat $R/gpu.txt $R/stages.txt 2>/dev/null
for f in $R/*.log; do echo "== $f"; grep -v "Warning\|warnings.warn\|it/s\]" "$f" | tail -n 3; done
tar czf "$OUT"/ssrun.tgz --exclude='snapshots.npz' --exclude='train' --exclude='eval' $R
