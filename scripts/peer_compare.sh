#!/usr/bin/env bash
# Side-by-side: shapeclf features against the Python peer (../shared/peer/peer.py) on the same
# dataset folder, one after the other on this machine. Prints both wall times (load + D2 + SDF)
# and their ratio. Usage: scripts/peer_compare.sh DATASET_ROOT [PEER_VENV]
# The peer's virtual environment is made outside the project on first use.
set -euo pipefail
root=${1:?dataset root}
here=$(cd "$(dirname "$0")/.." && pwd)
venv=${2:-$here/../peer-venv}
peer=$here/../shared/peer
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv --system-site-packages "$venv"
  "$venv/bin/pip" install -q -r "$peer/requirements.txt"
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
(cd "$here" && cargo build --release -q)
# cargo puts the binary under CARGO_TARGET_DIR when that is set.
target=${CARGO_TARGET_DIR:-$here/target}
"$target/release/shapeclf" features "$root" --out "$out/f" --no-views > "$out/ours.txt"
ours=$(python3 -c "import json;print(json.load(open('$out/f/manifest.json'))['wall_seconds'])")
"$venv/bin/python" "$peer/peer.py" "$root" --workers "$(nproc)" > "$out/peer.txt" 2>&1
tail -n 1 "$out/peer.txt" > "$out/peer.json"
python3 - "$out/peer.json" "$ours" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
ours = float(sys.argv[2])
peer = p["load_s"] + p["d2_s"] + p["sdf_s"]
print(f"meshes {p['meshes']}: peer load {p['load_s']:.2f} s + D2 {p['d2_s']:.2f} s + SDF {p['sdf_s']:.2f} s = {peer:.2f} s")
print(f"shapeclf features --no-views: {ours:.2f} s  ->  {peer / ours:.1f}x faster")
print(f"peer accuracy: logistic {p['acc_logistic']:.4f}, MLP {p['acc_mlp']:.4f}")
PY
