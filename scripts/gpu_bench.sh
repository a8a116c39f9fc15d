#!/usr/bin/env bash
# GPU training throughput of the default MVCNN (12 views x 2 channels of 32x32, as `features
# --align pca` renders them; channels 32/64/128), shapeclf on burn-wgpu against PyTorch CUDA on
# the same network, views and batch sizes, measured in one run, alternating per batch size so
# drift hits both alike. Both keep the views in device memory; each epoch ends in a sync.
# Then the same machine's CPU (shapeclf's kernels, 2 threads and all) at batch 16, as the
# yardstick the GPU must beat. Prints each line, then a table of shapes/s and the ratios.
#
# Usage: scripts/gpu_bench.sh [BATCHES]          (default "16 64 256")
#   CNN_SPEED     the cnn_speed example binary (default: built here with --features vulkan)
#   TORCH_PYTHON  a Python with torch and CUDA   (default: python3)
#   PEER          folder of the peer's peer_cnn.py (default: ../shared/peer)
#   SHAPES        view sets per epoch            (default 1200, the held-out benchmark's)
#   EPOCHS        epochs per timed run           (default 3)
#   CPU_SHAPES    view sets per CPU epoch        (default 256; 0 skips the CPU rows)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
batches=${1:-"16 64 256"}
shapes=${SHAPES:-1200}
epochs=${EPOCHS:-3}
cpu_shapes=${CPU_SHAPES:-256}
py=${TORCH_PYTHON:-python3}
bin=${CNN_SPEED:-}
if [ -z "$bin" ]; then
  (cd "$here" && cargo build --release -q --features vulkan --example cnn_speed)
  bin=${CARGO_TARGET_DIR:-$here/target}/release/examples/cnn_speed
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for b in $batches; do
  line=$("$bin" "$b" 12 32 32,64,128 gpu "$shapes" 2 "$epochs") || line="failed"
  echo "shapeclf batch $b: $line"
  echo "ours $b $line" >>"$out"
  line=$("$py" "$here/scripts/torch_cnn_bench.py" --device cuda --batch "$b" --shapes "$shapes" \
    --views 12 --in-channels 2 --reps 3 --peer "${PEER:-$here/../shared/peer}") || line="failed"
  echo "pytorch  batch $b: $line"
  echo "torch $b $line" >>"$out"
done
if [ "$cpu_shapes" -gt 0 ]; then
  for t in 2 "$(nproc)"; do
    line=$(RAYON_NUM_THREADS=$t "$bin" 16 12 32 32,64,128 cpu "$cpu_shapes" 2 1) || line="failed"
    echo "shapeclf cpu $t threads: $line"
    echo "cpu$t 16 $line" >>"$out"
  done
fi
python3 - "$out" <<'PY'
import re, sys
rows = {}
for line in open(sys.argv[1]):
    who, batch = line.split()[:2]
    m = re.search(r"= ([0-9.]+) shapes/s", line)
    if m:  # a failed run has no figure
        rows[(who, int(batch))] = float(m.group(1))
cpu2 = rows.get(("cpu2", 16))
cpus = sorted(k for k in rows if k[0].startswith("cpu"))
print(f"{'batch':>5} {'shapeclf':>10} {'pytorch':>10} {'ratio':>7}" + ("  vs 2-core CPU" if cpu2 else ""))
for b in sorted({b for w, b in rows if w == "ours"}):
    o, t = rows.get(("ours", b)), rows.get(("torch", b))
    if o is None:
        print(f"{b:>5} {'failed':>10}")
        continue
    line = f"{b:>5} {o:>10.0f} " + (f"{t:>10.0f} {o / t:>6.2f}x" if t else f"{'-':>10} {'-':>7}")
    if cpu2:
        line += f"  {o / cpu2:.1f}x"
    print(line)
if ("torch", 16) in rows:
    best = max([rows[k] for k in rows if k[0] == "ours"] or [0])
    print(f"shapeclf's best batch / PyTorch at batch 16: {best / rows[('torch', 16)]:.2f}x")
for k in cpus:
    print(f"cpu, {k[0][3:]} threads, batch 16: {rows[k]:.0f} shapes/s")
PY
