#!/bin/bash
# Copy the Table-1 run's results into $OUT (at most 8 files of 16 MiB): the log, every small
# file in summary.tar, each method's newest checkpoint (with its config and logs) in
# <method>_ckpt.tar, and a finished method's colour renders in <method>_renders.tar.
cd "$(dirname "$0")/../../.." || exit 1
T=.device_data/t1
cp $T/log.txt "$OUT"/ 2>/dev/null
grep -v "^  step\|Warning\|warn\|tensorboardX" $T/log.txt | tail -n 30
(cd $T && tar cf "$OUT"/summary.tar --ignore-failed-read $(ls -d */curve.json */train_clock.json \
  */final/metrics.json */train/metrics.jsonl */train/config.json table1.json 2>/dev/null))
for m in mipnerf nerf mipnerf_noarea mipnerf_noipe mipnerf_single; do
  d=$T/$m/train/checkpoints; [ -d $d ] || continue
  s=$(ls $d | grep -E '^[0-9]+$' | sort -n | tail -1); [ -n "$s" ] || continue
  (cd $T && tar cf "$OUT"/${m}_ckpt.tar $m/train/checkpoints/$s $m/train/config.json \
    $m/train/metrics.jsonl $m/curve.json $(ls $m/train_clock.json 2>/dev/null))
  [ -f $T/$m/final/metrics.json ] && [ -n "$(ls $T/$m/final/color_*.png 2>/dev/null)" ] && \
    (cd $T && tar cf "$OUT"/${m}_renders.tar $m/final/color_*.png)
done
ls -la "$OUT"
