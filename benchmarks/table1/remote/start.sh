#!/bin/bash
# Start the Table-1 runner (python -m benchmarks.table1.run) in its own process session on a
# lent GPU machine, so that it outlives the call that starts it; later calls follow it with
# wait.sh. Used for docs/RESULTS.md's 50,000-step Table 1 (one H200, 2026-12-02).
#
#   METHODS="NeRF,mip-NeRF single-scale" bash benchmarks/table1/remote/start.sh
#
# Expects the Blender scene in .device_data/lego (an ignored folder, carried to the machine).
# Seeds the run folder .device_data/t1 with the finished methods of docs/table1_runs (never
# overwriting what is there; the runner skips them) and unpacks the checkpoint tars carried in
# .device_data/back (collect.sh's <method>_ckpt.tar), so a stopped run resumes exactly.
cd "$(dirname "$0")/../../.." || exit 1
export PYTHONUNBUFFERED=1
T=.device_data/t1
mkdir -p $T
for m in docs/table1_runs/*/; do
  [ -f "$m/final/metrics.json" ] && cp -rn "$m" $T/
done
for t in .device_data/back/*.tar; do [ -f "$t" ] && tar xf "$t" -C $T --skip-old-files; done
nvidia-smi --query-gpu=name,memory.used --format=csv
setsid nohup python -m benchmarks.table1.run --blender_dir .device_data/lego \
  --steps "${STEPS:-50000}" --curve_every 10000 --curve_views 0,5,10 --save_every 5000 --out $T \
  --methods "${METHODS:-mip-NeRF,NeRF}" --set compute_dtype=bfloat16 \
  >> $T/log.txt 2>&1 < /dev/null &
echo $! > $T/pid
echo "started pid $(cat $T/pid)"
