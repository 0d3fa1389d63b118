#!/bin/bash
# Start the Table-1 runner (benchmarks/multiscale_table.py) in its own process session on a
# lent GPU machine, so that it outlives the call that starts it; later calls follow it with
# wait.sh. Used for docs/RESULTS.md's 50,000-step Table 1 (one H200, 2026-12-02).
#
#   METHODS="NeRF,mip-NeRF single-scale" bash benchmarks/remote/start.sh
#
# Expects the Blender scene in .device_data/lego (an ignored folder, carried to the machine).
# Seeds the run folder .device_data/t1 from docs/table1_runs (never overwriting what is there)
# and unpacks the checkpoint tars found there and in .device_data/back, so a run stopped in an
# earlier session resumes exactly.
cd "$(dirname "$0")/../.." || exit 1
export PYTHONUNBUFFERED=1
T=.device_data/t1
mkdir -p $T
[ -d docs/table1_runs ] && cp -rn docs/table1_runs/. $T/
for t in $T/*.tar .device_data/back/*.tar; do [ -f "$t" ] && tar xf "$t" -C $T --skip-old-files; done
nvidia-smi --query-gpu=name,memory.used --format=csv
setsid nohup python benchmarks/multiscale_table.py --blender_dir .device_data/lego \
  --steps "${STEPS:-50000}" --curve_every 10000 --curve_views 0,5,10 --out $T \
  --methods "${METHODS:-mip-NeRF,NeRF}" --set compute_dtype=bfloat16 \
  >> $T/log.txt 2>&1 < /dev/null &
echo $! > $T/pid
echo "started pid $(cat $T/pid)"
