#!/usr/bin/env bash
# Peak memory (max RSS) of `shapeclf features` as the dataset grows, and on one 5.2M-triangle mesh:
# memory must follow the largest mesh, not the dataset. Usage: scripts/rss_bench.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin shapeclf --example big_mesh >/dev/null
BIN=target/release/shapeclf
W=${1:-$(mktemp -d)}
mkdir -p "$W"
rss() { # prints peak RSS in MB of the command
  /usr/bin/time -f "%M" -o "$W/rss.txt" "$@" >/dev/null 2>&1
  echo "$(( $(cat "$W/rss.txt") / 1024 ))"
}
[ -d "$W/m45" ] || $BIN synth "$W/m45" --per-class 5 --seed 1 >/dev/null
[ -d "$W/m405" ] || $BIN synth "$W/m405" --per-class 45 --seed 1 >/dev/null
a=$(rss $BIN features "$W/m45" --out "$W/f45" --fresh)
b=$(rss $BIN features "$W/m405" --out "$W/f405" --fresh)
echo "features, 45 meshes:  peak RSS ${a} MB"
echo "features, 405 meshes: peak RSS ${b} MB (ratio $(python3 -c "print(round($b/$a, 3))"))"
mkdir -p "$W/big/sphere/train" "$W/big/sphere/test"
[ -f "$W/big/sphere/train/ico9.stl" ] || target/release/examples/big_mesh "$W/big/sphere/train/ico9.stl" 9 >/dev/null
cp -n "$W/big/sphere/train/ico9.stl" "$W/big/sphere/test/ico9.stl" 2>/dev/null || true
c=$(rss $BIN features "$W/big" --out "$W/fbig" --fresh -j 1)
echo "features, one 5.2M-triangle mesh (twice, one at a time): peak RSS ${c} MB"
