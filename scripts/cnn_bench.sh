#!/usr/bin/env bash
# The CNN's CPU throughput against PyTorch, measured in one run: the default MVCNN (12 views of
# 32x32, batch 16, channels 32/64/128) trained and run for inference by
#   - shapeclf on burn-flex with its own kernels (models/kernels),
#   - shapeclf on burn-flex with Burn's generic operations (SHAPECLF_CNN_KERNELS=burn),
#   - PyTorch CPU (scripts/torch_cnn_bench.py, the peer's network),
# each on the same number of threads, in ROUNDS alternating rounds so drift on a noisy machine
# hits all three alike. Prints each round, the medians, and the ratios to PyTorch.
# Usage: [CHANNELS=16,32,64] [IN_CHANNELS=2] scripts/cnn_bench.sh [ROUNDS] [TORCH_PYTHON]
# CHANNELS sets the three blocks' widths on both sides (default the peer's 32,64,128; shapeclf's
# own default is 16,32,64); IN_CHANNELS the channels per view (default 1; 2 under --align pca).
# TORCH_PYTHON defaults to ../torch-venv/bin/python, made on first use with
# `pip install torch numpy` (about 3-5 GB, outside the project).
set -euo pipefail
rounds=${1:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
py=${2:-$here/../torch-venv/bin/python}
threads=${RAYON_NUM_THREADS:-$(nproc)}
channels=${CHANNELS:-32,64,128}
inch=${IN_CHANNELS:-1}
if [ ! -x "$py" ]; then
  python3 -m venv "$(dirname "$(dirname "$py")")"
  "$py" -m pip install -q torch numpy
fi
(cd "$here" && cargo build --release -q --example cnn_speed)
bin=${CARGO_TARGET_DIR:-$here/target}/release/examples/cnn_speed
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for r in $(seq "$rounds"); do
  line=$(RAYON_NUM_THREADS=$threads "$bin" 16 12 32 "$channels" cpu 64 "$inch")
  echo "round $r shapeclf-kernels: $line"
  echo "ours $line" >> "$out"
  line=$(SHAPECLF_CNN_KERNELS=burn RAYON_NUM_THREADS=$threads "$bin" 16 12 32 "$channels" cpu 64 "$inch")
  echo "round $r shapeclf-burn:    $line"
  echo "burn $line" >> "$out"
  line=$("$py" "$here/scripts/torch_cnn_bench.py" --threads "$threads" --reps 3 \
    --channels "$channels" --in-channels "$inch")
  echo "round $r pytorch:          $line"
  echo "torch $line" >> "$out"
done
python3 - "$out" <<'PY'
import re, statistics, sys
train, infer = {}, {}
for line in open(sys.argv[1]):
    who = line.split()[0]
    t = float(re.search(r"= ([0-9.]+) shapes/s", line).group(1))
    i = float(re.search(r"inference ([0-9.]+) shapes/s", line).group(1))
    train.setdefault(who, []).append(t)
    infer.setdefault(who, []).append(i)
med = lambda d, k: statistics.median(d[k])
print("median shapes/s      train   inference")
for who, name in [("ours", "shapeclf kernels"), ("burn", "shapeclf, Burn ops"), ("torch", "PyTorch")]:
    print(f"{name:<20} {med(train, who):7.1f} {med(infer, who):11.1f}")
print(f"shapeclf kernels / PyTorch: train {med(train,'ours')/med(train,'torch'):.2f}x, "
      f"inference {med(infer,'ours')/med(infer,'torch'):.2f}x")
print(f"shapeclf kernels / Burn ops: train {med(train,'ours')/med(train,'burn'):.2f}x, "
      f"inference {med(infer,'ours')/med(infer,'burn'):.2f}x")
PY
