#!/usr/bin/env bash
# Every GPU check in one run, for a machine lent for a few minutes: binaries built elsewhere
# (`cargo build --release --features vulkan --bin shapeclf --example cnn_speed --test gpu`),
# nothing compiled here. In order, each step's output also written to OUT_DIR:
#   1. the GPU tests (tests/gpu.rs), CPU and GPU training agreeing among them;
#   2. scripts/gpu_bench.sh: shapeclf against PyTorch CUDA, same network, views and batches,
#      then scripts/gpu_launches.sh: kernel launches per training step on this driver, with the
#      conv block's batch norm + ReLU and with burn-nn's modules, and the two timed alternately;
#   3. the default `train --model cnn --backend gpu` on a set of the held-out benchmark's size
#      (about 1,200 training view sets under `features --align pca`, 40 epochs), timed twice:
#      once as it comes, once with the kernel cache the first run left, and once with the
#      peer's widths (`--channels 32,64,128`, the default before 2026-12-07);
#   4. with SCALE=1, a set of ModelNet40's size end to end: `synth --realistic` of about 10,000
#      meshes, `features` on every core, then GPU training.
#
# Usage: scripts/gpu_checks.sh BIN_DIR OUT_DIR
#   BIN_DIR holds shapeclf, cnn_speed and gpu (the test binary).
#   TORCH_PYTHON  a Python with torch and CUDA (default python3)
#   BATCHES       batch sizes for the benchmark (default "16 64 256")
set -uo pipefail
bin=${1:?folder of binaries}
out=${2:?output folder}
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
export SHAPECLF_CACHE_DIR=${SHAPECLF_CACHE_DIR:-$out/cache}
work=$(mktemp -d)
step() { echo "== $1 ($(date +%T))"; }
timed() { local t0=$SECONDS; "$@"; local rc=$?; echo "   ($((SECONDS - t0)) s, exit $rc)"; return $rc; }

step "device"
{ nvidia-smi -L 2>/dev/null || true; } | tee "$out/device.txt"

step "GPU tests"
timed "$bin/gpu" --test-threads 1 2>&1 | tee "$out/tests.txt"

step "benchmark against PyTorch CUDA"
CNN_SPEED=$bin/cnn_speed timed "$here/scripts/gpu_bench.sh" "${BATCHES:-16 64 256}" 2>&1 |
  tee "$out/bench.txt"

step "kernel launches per training step (the figure lavapipe gives too), and with burn-nn's modules"
CNN_SPEED=$bin/cnn_speed timed "$here/scripts/gpu_launches.sh" 2>&1 | tee "$out/launches.txt"
SHAPECLF_CNN_KERNELS=burn CNN_SPEED=$bin/cnn_speed timed "$here/scripts/gpu_launches.sh" 2>&1 |
  tee -a "$out/launches.txt"

step "the conv block's batch norm + ReLU against burn-nn's modules, default network, batch 16, alternating"
for round in 1 2; do
  for ops in ours burn; do
    if [ "$ops" = burn ]; then export SHAPECLF_CNN_KERNELS=burn; else unset SHAPECLF_CNN_KERNELS; fi
    echo "$ops, round $round: $("$bin/cnn_speed" 16 12 32 16,32,64 gpu 1200 2 3 2>&1 | tail -n 1)" |
      tee -a "$out/batch_norm_ab.txt"
  done
done
unset SHAPECLF_CNN_KERNELS

step "default training on a set of the held-out benchmark's size"
d=$work/bench
timed "$bin/shapeclf" synth "$d/meshes" --realistic --per-class 32 --seed 3 >/dev/null
timed "$bin/shapeclf" features "$d/meshes" --out "$d/features" --seed 3 --align pca >/dev/null
for run in first second wide; do
  rm -rf "$d/model"
  wide=()
  [ "$run" = wide ] && wide=(--channels 32,64,128)
  timed "$bin/shapeclf" train --model cnn --backend gpu --features "$d/features" --out "$d/model" \
    --seed 3 "${wide[@]}" 2>&1 | tail -n 4 | tee -a "$out/train.txt"
  python3 - "$d/model/report.json" "$run" <<'PY' | tee -a "$out/train.txt"
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]} run: {r.get('train_size')} training view sets, "
      f"{r.get('train_seconds', 0):.1f} s of training, accuracy {r.get('accuracy'):.3f}, "
      f"{r.get('backend')}")
PY
done

if [ "${SCALE:-0}" = 1 ]; then
  step "ModelNet40-sized set end to end"
  d=$work/scale
  timed "$bin/shapeclf" synth "$d/meshes" --realistic --per-class 840 --seed 4 >/dev/null
  timed "$bin/shapeclf" features "$d/meshes" --out "$d/features" --seed 4 --align pca >/dev/null
  timed "$bin/shapeclf" train --model cnn --backend gpu --features "$d/features" --out "$d/model" \
    --seed 4 2>&1 | tail -n 4 | tee "$out/scale.txt"
fi
rm -rf "$work"
