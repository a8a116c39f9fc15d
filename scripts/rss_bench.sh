#!/usr/bin/env bash
# Peak memory (max RSS) of `shapeclf features` as the dataset grows, and on one 5.2M-triangle mesh:
# memory must follow the largest mesh, not the dataset. The large set is the small one ten times
# over (hard links under other names), so both hold the same largest meshes and the ratio measures
# growth with the number of meshes alone. Usage: scripts/rss_bench.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin shapeclf --example big_mesh >/dev/null
BIN=$PWD/target/release/shapeclf
W=${1:-$(mktemp -d)}
mkdir -p "$W"
rss() { # prints peak RSS in MB of the command
  /usr/bin/time -f "%M" -o "$W/rss.txt" "$@" >/dev/null 2>&1
  echo "$(( $(cat "$W/rss.txt") / 1024 ))"
}
# 45 meshes of realistic size (each triangle split in four twice: about 11k triangles each).
[ -d "$W/m45" ] || $BIN synth "$W/m45" --per-class 5 --seed 1 --subdivide 2 >/dev/null
if [ ! -d "$W/m450" ]; then
  (cd "$W/m45" && find . -type f) | while read -r f; do
    mkdir -p "$W/m450/$(dirname "$f")"
    for k in 0 1 2 3 4 5 6 7 8 9; do ln "$W/m45/$f" "$W/m450/$(dirname "$f")/copy${k}_$(basename "$f")"; done
  done
fi
for run in 1 2 3; do
  a=$(rss $BIN features "$W/m45" --out "$W/f45" --fresh)
  b=$(rss $BIN features "$W/m450" --out "$W/f450" --fresh)
  echo "run $run: features with views, 45 meshes: ${a} MB; 450 meshes: ${b} MB (ratio $(python3 -c "print(round($b/$a, 3))"))"
done
mkdir -p "$W/big/sphere/train" "$W/big/sphere/test"
[ -f "$W/big/sphere/train/ico9.stl" ] || target/release/examples/big_mesh "$W/big/sphere/train/ico9.stl" 9 >/dev/null
cp -n "$W/big/sphere/train/ico9.stl" "$W/big/sphere/test/ico9.stl" 2>/dev/null || true
c=$(rss $BIN features "$W/big" --out "$W/fbig" --fresh -j 1)
echo "features, one 5.2M-triangle binary STL (twice, one at a time): peak RSS ${c} MB"
