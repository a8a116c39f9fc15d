#!/usr/bin/env bash
# Peak memory (max RSS) of training the CNN on N and on 10N shapes: with views read per batch
# from the feature folder (what a set over SHAPECLF_VIEW_BYTES gets; forced here with a budget
# of 0), memory must follow the batch, not the dataset; with --views-in-memory it grows with
# the dataset. Prints both peaks and their ratio for each mode.
# Usage: scripts/train_rss.sh [WORKDIR] [PER_CLASS]   (N = 9 * PER_CLASS shapes, default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${SHAPECLF:-}
if [ -z "$bin" ]; then
  cargo build --release --bin shapeclf >/dev/null
  bin=$PWD/${CARGO_TARGET_DIR:-target}/release/shapeclf
fi
W=${1:-$(mktemp -d)}
per=${2:-10}
mkdir -p "$W"
rss() { # peak RSS in MB of the command
  /usr/bin/time -f "%M" -o "$W/rss.txt" "$@" >/dev/null 2>&1
  echo "$(( $(cat "$W/rss.txt") / 1024 ))"
}
for n in "$per" "$((per * 10))"; do
  [ -d "$W/m$n" ] || "$bin" synth "$W/m$n" --per-class "$n" --seed 1 >/dev/null
  [ -f "$W/f$n/manifest.json" ] || "$bin" features "$W/m$n" --out "$W/f$n" >/dev/null 2>&1
done
export SHAPECLF_VIEW_BYTES=0 # views on disk unless --views-in-memory
for mode in "" "--views-in-memory"; do
  a=$(rss "$bin" train --model cnn --features "$W/f$per" --out "$W/c$per" --epochs 1 $mode)
  b=$(rss "$bin" train --model cnn --features "$W/f$((per * 10))" --out "$W/c$((per * 10))" --epochs 1 $mode)
  echo "train --model cnn ${mode:-(views per batch)}: $((9 * per)) shapes ${a} MB, $((90 * per)) shapes ${b} MB, ratio $(python3 -c "print(f'{$b/$a:.2f}')")"
done
