#!/usr/bin/env bash
# The development benchmark of issue #12: `synth --realistic` data (12 classes, arbitrary poses,
# noise, holes), three seeds, each model trained per seed; prints each model's test accuracy
# per seed and its mean and standard deviation. Tune on this (and on held-out splits of it),
# never on a real benchmark's test set.
#
# Usage: scripts/dev_benchmark.sh OUT_DIR [--per-class N] [--features "FLAGS"] [--train "FLAGS"]
#        [--models "logistic mlp cnn fusion"] [--seeds "0 1 2"] [--upright]
# --upright makes plain `synth` data instead (the demo's 9 classes, upright in a common frame),
# to measure a setting on aligned collections too.
# e.g.   scripts/dev_benchmark.sh /tmp/dev --features "--align pca"
# SHAPECLF=path/to/shapeclf picks the binary (default: target/release/shapeclf, built first).
set -euo pipefail
out=${1:?output folder}
shift
per_class=20
feat_flags=""
train_flags=""
models="logistic mlp cnn fusion"
seeds="0 1 2"
realistic=--realistic
while [ $# -gt 0 ]; do
  case "$1" in
    --per-class) per_class=$2; shift 2 ;;
    --features) feat_flags=$2; shift 2 ;;
    --train) train_flags=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    --upright) realistic=""; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${SHAPECLF:-}
if [ -z "$bin" ]; then
  (cd "$here" && cargo build --release -q)
  bin=$here/target/release/shapeclf
fi
mkdir -p "$out"
for s in $seeds; do
  d=$out/seed$s
  # shellcheck disable=SC2086
  [ -d "$d/meshes" ] || "$bin" synth "$d/meshes" $realistic --per-class "$per_class" --seed "$s" >/dev/null
  # shellcheck disable=SC2086
  "$bin" features "$d/meshes" --out "$d/features" --seed "$s" $feat_flags >/dev/null
  for m in $models; do
    # shellcheck disable=SC2086
    "$bin" train --model "$m" --features "$d/features" --out "$d/models/$m" --seed "$s" $train_flags >/dev/null
  done
done
python3 - "$out" "$seeds" "$models" <<'PY'
import json, statistics, sys
out, seeds, models = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
print(f"{'model':10} {'mean':>6} {'std':>6}  per seed ({', '.join(seeds)})")
for m in models:
    acc = [json.load(open(f"{out}/seed{s}/models/{m}/report.json"))["accuracy"] for s in seeds]
    sd = statistics.stdev(acc) if len(acc) > 1 else 0.0
    print(f"{m:10} {statistics.mean(acc):6.3f} {sd:6.3f}  " + ", ".join(f"{a:.3f}" for a in acc))
PY
