#!/bin/bash
# Start the same-steps runs (python -m benchmarks.same_steps) in their own process session on
# a lent GPU machine, so that they outlive the call that starts them; later calls follow them
# with collect.sh. Used for docs/RESULTS.md's "Same steps" section (one H100, 2026-12-07:
# 24.4 minutes for the three runs, their scoring and the speed timings).
#
#   bash benchmarks/same_steps_remote/start.sh                       # seed 0, all three runs
#   SEEDS="1" RUNS="paper ours_f32" SPEED=0 bash benchmarks/same_steps_remote/start.sh
#   PLAN="paper_fed:0 paper:1" SPEED=0 bash benchmarks/same_steps_remote/start.sh
#     (run:seed pairs in this order; paper_fed is the control: the paper's step on our initial
#     weights and batches, benchmarks/same_steps.py train --feed_ours)
#
# Expects lego in .device_data/lego and a google/mipnerf clone in .device_data/mipnerf_paper
# (ignored folders, carried to the machine). A run whose run.json exists is not run again;
# an unfinished one is removed and run from the start, so earlier runs copied into $R (their
# run.json and eval.json) are skipped and join the report. Carry $R only in the call that
# starts the pipeline (collect.sh says why).
# Each run of 10,000 steps with its scoring takes on one H100: the paper's code ~9 min, ours
# float32 ~8 min, ours bfloat16 ~4.5 min (plus ~1 min compiling and loading).
cd "$(dirname "$0")/../.." || exit 1
export PYTHONPATH=. PYTHONUNBUFFERED=1
R=${R:-.device_data/ssrun}; MS=${MS:-.device_data/ms_lego}
STEPS=${STEPS:-10000}; EVERY=${EVERY:-2500}
SEEDS=${SEEDS:-0}; RUNS=${RUNS:-paper ours_bf16 ours_f32}; SPEED=${SPEED:-1}
if [ -z "$PLAN" ]; then for s in $SEEDS; do for r in $RUNS; do PLAN="$PLAN $r:$s"; done; done; fi
mkdir -p $R
cat > $R/pipeline.sh <<PIPE
stamp() { echo "\$(date +%T) \$*" >> $R/stages.txt; }
nvidia-smi -L > $R/gpu.txt 2>&1
stamp start
[ -f $MS/metadata.json ] || python3 data_scripts/convert_blender_data.py --blenderdir .device_data/lego --outdir $MS > $R/convert.log 2>&1
stamp converted
for item in $PLAN; do
    run=\${item%%:*}; seed=\${item##*:}
    out=$R/\${run}_s\$seed; [ -f \$out/run.json ] && continue
    rm -rf \$out  # an unfinished run: its time would not be one run's
    case \$run in
      paper) args="--who paper --paper_code .device_data/mipnerf_paper" ;;
      paper_fed) args="--who paper --paper_code .device_data/mipnerf_paper --feed_ours" ;;
      ours_bf16) args="--who ours --set compute_dtype=bfloat16" ;;
      ours_f32) args="--who ours" ;;
    esac
    python3 -m benchmarks.same_steps train \$args --data_dir $MS --steps $STEPS --snapshot_every $EVERY \
      --set seed=\$seed --out \$out $EXTRA > \$out.log 2>&1; stamp "\$run seed \$seed train rc=\$?"
    python3 -m benchmarks.same_steps eval --data_dir $MS --runs \$out > \$out.eval.log 2>&1
    stamp "\$run seed \$seed eval rc=\$?"
done
python3 -m benchmarks.same_steps report --runs \$(ls -d $R/*_s*/ ) --out $R/report > $R/report.log 2>&1
stamp "report rc=\$?"
if [ "$SPEED" = 1 ]; then
  python3 -m benchmarks.same_steps speed --paper_code .device_data/mipnerf_paper --out $R/speed.json > $R/speed.log 2>&1
  stamp "speed rc=\$?"
fi
stamp done
touch $R/DONE
PIPE
rm -f $R/DONE
setsid nohup bash $R/pipeline.sh > $R/pipeline.out 2>&1 < /dev/null &
echo "started:$PLAN; $STEPS steps, speed $SPEED"
