"""Shared fixtures: a small synthetic dataset, feature folders and models made by the
``shapeclf`` command line, which every Python call is checked against.

``SHAPECLF_BIN`` names the command line (default: target/release/shapeclf of this repository,
or of ``CARGO_TARGET_DIR``).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _default_bin() -> Path:
    target = os.environ.get("CARGO_TARGET_DIR")
    base = Path(target) if target else REPO / "target"
    if not base.is_absolute():
        base = REPO / base
    return base / "release" / "shapeclf"


BIN = Path(os.environ.get("SHAPECLF_BIN") or _default_bin())


def cli(*args: object) -> str:
    """Runs the command line; its stdout. A failure fails the test with its stderr."""
    if not BIN.is_file():
        pytest.fail(f"no shapeclf binary at {BIN}: build it (cargo build --release) or set SHAPECLF_BIN")
    r = subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"shapeclf {' '.join(map(str, args))} exited {r.returncode}: {r.stderr}")
    return r.stdout


@pytest.fixture(scope="session")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("shapeclf")


@pytest.fixture(scope="session")
def meshes(work: Path) -> Path:
    """27 meshes of 9 classes in OFF, OBJ, STL and PLY."""
    root = work / "meshes"
    cli("synth", root, "--per-class", 3, "--seed", 5)
    return root


@pytest.fixture(scope="session")
def mesh_files(meshes: Path) -> list:
    return sorted(p for p in meshes.rglob("*") if p.is_file() and not p.name.startswith("."))


# Two feature runs of the command line: its defaults (CSV, spherical harmonics, views in the
# principal axes with depth+shade and 3 augmented copies), and views in the files' own axes
# (whose defaults are depth alone and no copies) with other descriptor settings, as Parquet.
DEFAULT_FLAGS: dict = {}
OTHER_FLAGS = dict(
    seed=3,
    align="none",
    res=16,
    layout="dodecahedron",
    format="parquet",
    d2_points=512,
    sdf_rays=12,
    sh_shells=4,
    sh_degrees=5,
    sh_points=1024,
)

# The command line's spelling of each Python setting.
FLAG_NAMES = {"res": "--view-res", "layout": "--views", "channels": "--view-channels", "augment": "--view-augment"}


def flags(settings: dict) -> list:
    out = []
    for k, v in settings.items():
        name = FLAG_NAMES.get(k, "--" + k.replace("_", "-"))
        if v is True:
            out.append(name)
        elif v is False:
            out.append("--no-" + k.replace("_", "-"))
        else:
            out += [name, str(v)]
    return out


@pytest.fixture(scope="session")
def cli_features(work: Path, meshes: Path) -> Path:
    out = work / "features-default"
    cli("features", meshes, "--out", out, *flags(DEFAULT_FLAGS))
    return out


@pytest.fixture(scope="session")
def cli_features_other(work: Path, meshes: Path) -> Path:
    out = work / "features-other"
    cli("features", meshes, "--out", out, *flags(OTHER_FLAGS))
    return out


@pytest.fixture(scope="session")
def models(work: Path, cli_features: Path) -> dict:
    """Tiny models trained by the command line: an MLP on descriptors, a CNN on the default views."""
    out = work / "models"
    cli("train", "--model", "mlp", "--features", cli_features, "--out", out / "mlp", "--epochs", 5)
    cli("train", "--model", "cnn", "--features", cli_features, "--out", out / "cnn", "--epochs", 1)
    return {"mlp": out / "mlp", "cnn": out / "cnn"}


def read_manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())
