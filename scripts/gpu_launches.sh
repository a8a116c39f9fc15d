#!/usr/bin/env bash
# Kernel launches per CNN training step on the GPU path, counted, not timed. A launch costs the
# host work whatever the device, so a machine without a GPU counts them on Mesa's software
# Vulkan (lavapipe); what fusion groups and autotuning picks may still differ by driver, which
# is why scripts/gpu_checks.sh counts them on the lent GPU too. See docs/GPU.md, "Where a
# training step goes".
#
# Runs the `cnn_speed` example with CNN_SPEED_COUNT=1: CubeCL's launch observer counts every
# kernel of one training epoch of SHAPES shapes and of one of 2 x SHAPES (after a warm-up run),
# and the difference over the extra steps is one step's launches, by kind of kernel.
#
# Usage: scripts/gpu_launches.sh [BATCH] [CHANNELS] [SHAPES]   (default 16 16,32,64 64)
#   CNN_SPEED  the cnn_speed example binary (default: built here with --features wgpu)
#   Needs a Vulkan driver (lavapipe: `apt-get install mesa-vulkan-drivers libvulkan1`).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
batch=${1:-16}
channels=${2:-16,32,64}
shapes=${3:-64}
if [ $((shapes % batch)) -ne 0 ]; then
  echo "SHAPES ($shapes) must be a multiple of BATCH ($batch): partial batches would count as steps" >&2
  exit 2
fi
bin=${CNN_SPEED:-}
if [ -z "$bin" ]; then
  (cd "$here" && cargo build --release -q --features wgpu --example cnn_speed)
  bin=${CARGO_TARGET_DIR:-$here/target}/release/examples/cnn_speed
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$work}
CNN_SPEED_COUNT=1 "$bin" "$batch" 12 32 "$channels" gpu "$shapes" 2
