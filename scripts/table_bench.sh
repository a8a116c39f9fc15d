#!/usr/bin/env bash
# Time and peak memory of writing and reading a feature table of ROWS x COLS (default 1M x 260,
# about ModelNet's column count with every descriptor on), as CSV and as Parquet, through
# shapeclf's own writer and reader (examples/table_bench.rs), one process per operation.
# Usage: scripts/table_bench.sh [ROWS] [COLS] [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
COLS=${2:-260}
W=${3:-$(mktemp -d)}
mkdir -p "$W"
cargo build --release --example table_bench >/dev/null
B=${CARGO_TARGET_DIR:-target}/release/examples/table_bench
for f in csv parquet; do
  "$B" write "$f" "$ROWS" "$COLS" "$W"
  "$B" read "$f" "$ROWS" "$COLS" "$W"
done
ls -l "$W"
