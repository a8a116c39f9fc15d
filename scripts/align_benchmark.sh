#!/usr/bin/env bash
# The measurement behind `features --align`'s default: every model with `--align none` and with
# `--align pca`, on unaligned data (`synth --realistic`: arbitrary poses, noise, holes) and on
# upright data (plain `synth`, the demo's classes in a common frame), three seeds each, through
# scripts/dev_benchmark.sh. Prints one table per data kind and alignment, then a summary.
#
# Usage: scripts/align_benchmark.sh OUT_DIR [--per-class N] [--seeds "0 1 2"] [--models "..."]
# SHAPECLF=path/to/shapeclf picks the binary (default: target/release/shapeclf, built first).
set -euo pipefail
out=${1:?output folder}
shift
extra=("$@")
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${SHAPECLF:-}" ]; then
  (cd "$here" && cargo build --release -q)
  export SHAPECLF=$here/target/release/shapeclf
fi
mkdir -p "$out"
for data in realistic upright; do
  for align in none pca; do
    flag=()
    [ "$data" = upright ] && flag=(--upright)
    echo "== $data, --align $align"
    "$here/scripts/dev_benchmark.sh" "$out/$data-$align" --features "--align $align" \
      "${flag[@]}" "${extra[@]}" | tee "$out/$data-$align.txt"
  done
done
echo "== summary (test accuracy, mean ± std over seeds)"
for data in realistic upright; do
  for align in none pca; do
    sed -n '2,$p' "$out/$data-$align.txt" | awk -v d="$data" -v a="$align" \
      '{printf "%-10s %-5s %-9s %s ± %s\n", d, a, $1, $2, $3}'
  done
done
