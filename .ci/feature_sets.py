#!/usr/bin/env python3
"""Fails when a later build in CI would compile a shared dependency with other features than
`cargo test --release` does: each such crate, and every crate above it, would then be compiled
twice. Two later builds are checked: the Python package's (`pip install ./python`), which must
match exactly, and the GPU tests' (`--features wgpu`), whose every shared crate must be built
with the test build's features (it may add new instances, and Burn's own crates differ on
purpose). The fix is to add the feature to python/feature-unify/Cargo.toml."""
import subprocess
import sys


def features(package, edges, extra=()):
    out = subprocess.run(
        ["cargo", "tree", "--locked", "-p", package, "-e", edges, "--prefix", "none",
         "--format", "{p}|{f}", *extra],
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
gpu = features("shapeclf", "normal,build,dev", ["--features", "wgpu"])
differ = [(name, "the wheel's", sorted(wheel[name]), sorted(tests[name]))
          for name in sorted(wheel) if name in tests and wheel[name] != tests[name]]
# Burn's crates take the GPU features themselves; everything else must be reused as built.
differ += [(name, "the GPU tests'", sorted(gpu[name]), sorted(tests[name]))
           for name in sorted(tests) if name in gpu and not tests[name] <= gpu[name]
           and not name.startswith(("burn", "cubecl"))]
for name, build, other, t in differ:
    print(f"{name}: {build} build has features {other}, the test build {t}")
if differ:
    print(f"{len(differ)} shared dependencies would be compiled twice; "
          "see python/feature-unify/Cargo.toml", file=sys.stderr)
    sys.exit(1)
print(f"the test build shares its dependencies' features with the wheel's build "
      f"({len(wheel)} crates) and the GPU tests' build ({len(tests)} crates)")
