#!/bin/bash
# N CPU processes on this machine as one training job (what the tests do): each process has
# 2 CPU devices, collectives go through gloo, only 127.0.0.1 is used.
#
#   bash examples/cluster/local_cpu_job.sh 2 runs/two_procs --set max_steps=200
set -euo pipefail
N=${1:-2}; TRAIN_DIR=${2:-runs/local_job}; shift 2 || true
PORT=$(python -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
export JAX_PLATFORMS=cpu XLA_FLAGS="--xla_force_host_platform_device_count=2"
pids=()
for ((i = 0; i < N; i++)); do
    python -m mipnerf_lib train --config multiblender --train_dir "$TRAIN_DIR" --no_progress \
        --coordinator_address "127.0.0.1:$PORT" --num_processes "$N" --process_id "$i" \
        --lost_timeout 10 "$@" &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
exit $status
