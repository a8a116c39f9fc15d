#!/usr/bin/env bash
# Kernel launches per CNN training step on the GPU path, counted, not timed: a figure that does
# not depend on the device, so a machine without a GPU measures it on Mesa's software Vulkan
# (lavapipe). At the batch sizes the CNN trains at, a step's time on a fast GPU is mostly the
# host's work per launch (docs/GPU.md, "Where a training step goes"), so fewer launches is
# what a change to the GPU path must show first.
#
# CubeCL prints every kernel it launches with CUBECL_DEBUG_OPTION=profile-medium (to stdout:
# its log file loses lines when several of its loggers write it); the
# `cnn_speed` example trains its runs (a warm-up and 3 timed) for 1 and then 2 epochs, and the
# difference, divided by the extra steps, is the launches of one training step (loss sum and
# correct count included, the per-epoch read-back and the inference runs cancelled out).
# Prints the count, and the launches of a step by kind of kernel.
#
# Usage: scripts/gpu_launches.sh [BATCH] [CHANNELS] [SHAPES]   (default 16 16,32,64 64)
#   CNN_SPEED  the cnn_speed example binary (default: built here with --features wgpu)
#   Needs a Vulkan driver (lavapipe: `apt-get install mesa-vulkan-drivers libvulkan1`).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
batch=${1:-16}
channels=${2:-16,32,64}
shapes=${3:-64}
bin=${CNN_SPEED:-}
if [ -z "$bin" ]; then
  (cd "$here" && cargo build --release -q --features wgpu --example cnn_speed)
  bin=${CARGO_TARGET_DIR:-$here/target}/release/examples/cnn_speed
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$work}
export SHAPECLF_CACHE_DIR=${SHAPECLF_CACHE_DIR:-$work/cache}
launches() { # EPOCHS -> file of launched kernel names, in order
  CUBECL_DEBUG_OPTION=profile-medium CUBECL_DEBUG_LOG=stdout \
    "$bin" "$batch" 12 32 "$channels" gpu "$shapes" 2 "$1" >"$work/log$1"
  grep -E '^\| [0-9.]+(ns|µs|ms|s) +\|' "$work/log$1" | awk -F'|' '{gsub(/ +$/, "", $3); print $3}' \
    >"$work/k$1"
  grep '^gpu ' "$work/log$1" >"$work/out$1"
}
# The first run tunes and compiles; run it once before counting so both counts see the same.
launches 1
launches 1
launches 2
steps=$((4 * ((shapes + batch - 1) / batch)))
one=$(wc -l <"$work/k1")
two=$(wc -l <"$work/k2")
per=$(((two - one) / steps))
head -n 1 "$work/out2"
echo "kernel launches per training step: $per (batch $batch, channels $channels; $((two - one)) over $steps steps)"
echo "a step's kernels by kind (per step, the same difference):"
kinds() { sed -E 's/_[0-9a-f]{8}$//; s/ \|.*//' "$1" | sort | uniq -c | awk '{print $2, $1}' | sort; }
join -a 2 -e 0 -o 0,1.2,2.2 <(kinds "$work/k1") <(kinds "$work/k2") |
  awk -v s="$steps" '{d = ($3 - $2) / s; if (d > 0) printf "%7.1f  %s\n", d, $1}' | sort -rn
