#!/bin/bash
# wait.sh SECONDS [stop]: follow the runner started by start.sh for SECONDS (or until it
# exits); with "stop", send it SIGTERM at the end (the library saves the current step) and
# wait for it to exit. Then collect.sh puts the results in $OUT.
cd "$(dirname "$0")/../../.." || exit 1
T=.device_data/t1
pid=$(cat $T/pid)
end=$((SECONDS + $1))
while [ $SECONDS -lt $end ] && kill -0 "$pid" 2>/dev/null; do sleep 5; done
if [ "$2" = stop ] && kill -0 "$pid" 2>/dev/null; then
  kill -TERM "$pid"; for i in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
fi
kill -0 "$pid" 2>/dev/null && echo "runner still running" || echo "runner exited"
bash benchmarks/table1/remote/collect.sh
