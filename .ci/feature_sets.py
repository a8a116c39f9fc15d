#!/usr/bin/env python3
"""Fails when the Python package's build would compile a shared dependency with other features
than `cargo test --release` does: each such crate, and every crate above it, would then be
compiled twice in CI. The fix is to add the feature to python/feature-unify/Cargo.toml."""
import subprocess
import sys


def features(package, edges):
    out = subprocess.run(
        ["cargo", "tree", "--locked", "-p", package, "-e", edges, "--prefix", "none",
         "--format", "{p}|{f}"],
        check=True, capture_output=True, text=True).stdout
    seen = {}
    for line in out.splitlines():
        if "|" not in line:
            continue
        name, feats = line.split("|", 1)
        name = name.replace(" (*)", "").strip()
        if "(/" in name:  # the workspace's own crates differ on purpose (no CLI in the wheel)
            continue
        seen.setdefault(name, set()).add(feats.replace(" (*)", "").strip())
    return seen


tests = features("shapeclf", "normal,build,dev")
wheel = features("shapeclf-python", "normal,build")
differ = [(name, sorted(wheel[name]), sorted(tests[name]))
          for name in sorted(wheel) if name in tests and wheel[name] != tests[name]]
for name, w, t in differ:
    print(f"{name}: the wheel's build has features {w}, the test build {t}")
if differ:
    print(f"{len(differ)} shared dependencies would be compiled twice; "
          "see python/feature-unify/Cargo.toml", file=sys.stderr)
    sys.exit(1)
print(f"the test build and the wheel's build share {len(wheel)} dependencies' features")
