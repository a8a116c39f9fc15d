"""Every call of the Python package against the command line on the same meshes: descriptors
bit-identical to the table rows, views pixel-identical to the view images, feature folders
byte-identical, predictions equal to ``predict --json``, errors with the same messages."""

from __future__ import annotations

import csv
import json
import shutil
import warnings
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import shapeclf
from conftest import BIN, DEFAULT_FLAGS, OTHER_FLAGS, cli, flags, read_manifest

DESCRIPTOR_KEYS = ("seed", "d2_points", "d2_pairs", "sdf_points", "sdf_rays", "sh", "sh_shells", "sh_degrees", "sh_points")
VIEW_KEYS = ("layout", "res", "align", "channels", "up")


def only(settings: dict, keys: tuple) -> dict:
    return {k: v for k, v in settings.items() if k in keys}


def bits(a) -> np.ndarray:
    """float32 values as their bit patterns, so equality is bit-identity."""
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


def row(d: dict) -> np.ndarray:
    return np.concatenate([a.ravel() for a in d.values()])


def csv_table(path: Path) -> tuple:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    values = {r[0]: np.array([np.float32(x) for x in r[3:]], dtype=np.float32) for r in body}
    return header, values


# ---------------------------------------------------------------- descriptors


def test_descriptors_are_the_csv_rows_of_the_default_run(cli_features, meshes, mesh_files):
    header, table = csv_table(cli_features / "descriptors.csv")
    assert len(table) == len(mesh_files) == 27
    for f in mesh_files:
        d = shapeclf.descriptors(f)
        assert list(d) == ["d2", "sdf", "d1", "a3", "d3", "sdfstat", "shape", "sh"]
        assert d["d2"].dtype == np.float32 and d["sh"].shape == (8, 12)
        np.testing.assert_array_equal(bits(row(d)), bits(table[f.relative_to(meshes).as_posix()]))


def test_descriptors_are_the_parquet_rows_under_other_settings(cli_features_other, meshes, mesh_files):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    t = pd.read_parquet(cli_features_other / "descriptors.parquet").set_index("path")
    settings = only(OTHER_FLAGS, DESCRIPTOR_KEYS)
    for f in mesh_files:
        d = shapeclf.descriptors(f, **settings)
        assert d["sh"].shape == (4, 5)
        want = t.loc[f.relative_to(meshes).as_posix()].iloc[2:].to_numpy(dtype=np.float32)
        np.testing.assert_array_equal(bits(row(d)), bits(want))


def test_descriptors_do_not_depend_on_the_path(mesh_files, tmp_path):
    f = mesh_files[0]
    moved = tmp_path / ("elsewhere" + f.suffix)
    shutil.copy(f, moved)
    np.testing.assert_array_equal(bits(row(shapeclf.descriptors(f))), bits(row(shapeclf.descriptors(moved))))


def test_meshes_as_arrays(mesh_files):
    f = mesh_files[0]
    v, faces = shapeclf.load_mesh(f)
    assert v.dtype == np.float32 and v.shape[1] == 3
    assert faces.dtype == np.int64 and faces.shape[1] == 3 and faces.max() < len(v)
    nv, nf = shapeclf.load_mesh(f, normalize=True)
    assert np.linalg.norm(nv, axis=1).max() <= 1.0 + 1e-5
    a = row(shapeclf.descriptors((v, faces)))
    b = row(shapeclf.descriptors((v.astype(np.float64), faces.astype(np.int32))))
    np.testing.assert_array_equal(bits(a), bits(b))
    # Seeded from the arrays, not the file's bytes: the same kind of numbers, other samples.
    assert a.shape == row(shapeclf.descriptors(f)).shape
    # Views draw nothing at random: the arrays give the file's pixels.
    np.testing.assert_array_equal(shapeclf.render_views((v, faces)), shapeclf.render_views(f))


# ---------------------------------------------------------------- views


def png_views(png: Path, count: int, channels: int, res: int, columns: int) -> np.ndarray:
    from PIL import Image

    img = np.asarray(Image.open(png))
    grid_rows = -(-count // columns)
    assert img.shape == (grid_rows * res * channels, columns * res)
    out = np.zeros((count, channels, res, res), np.uint8)
    for c in range(channels):
        for v in range(count):
            y = c * grid_rows * res + (v // columns) * res
            x = (v % columns) * res
            out[v, c] = img[y : y + res, x : x + res]
    return out


@pytest.mark.parametrize("which", ["default", "other"])
def test_views_are_the_feature_folders_pngs(which, request, meshes, mesh_files):
    pytest.importorskip("PIL")
    folder = request.getfixturevalue("cli_features" if which == "default" else "cli_features_other")
    settings = only(DEFAULT_FLAGS if which == "default" else OTHER_FLAGS, VIEW_KEYS)
    m = read_manifest(folder)["views"]
    cfg = m["config"]
    count, columns = m["count"], m["grid_columns"]
    channels = 2 if cfg.get("channels") == "depth+shade" else 1
    assert (channels, count) == ((2, 12) if which == "default" else (1, 20))
    for f in mesh_files:
        views = shapeclf.render_views(f, **settings)
        assert views.dtype == np.uint8
        assert views.shape == (count, channels, cfg["resolution"], cfg["resolution"])
        png = folder / "views" / (f.relative_to(meshes).as_posix() + ".png")
        np.testing.assert_array_equal(views, png_views(png, count, channels, cfg["resolution"], columns))
    floats = shapeclf.render_views(mesh_files[0], dtype=np.float32, **settings)
    np.testing.assert_array_equal(floats, views_u8 := shapeclf.render_views(mesh_files[0], **settings).astype(np.float32) / 255)
    assert floats.dtype == np.float32 and views_u8.max() <= 1.0


# ---------------------------------------------------------------- whole feature runs


def same_folder(a: Path, b: Path, table: str) -> None:
    assert (a / table).read_bytes() == (b / table).read_bytes()
    pngs = sorted(p.relative_to(a) for p in (a / "views").rglob("*.png"))
    assert pngs == sorted(p.relative_to(b) for p in (b / "views").rglob("*.png"))
    assert pngs
    for p in pngs:
        assert (a / p).read_bytes() == (b / p).read_bytes(), p
    ma, mb = read_manifest(a), read_manifest(b)
    for k in ("descriptors", "columns", "classes", "counts", "views", "seed", "failed"):
        assert ma[k] == mb[k], k


def test_features_writes_the_command_lines_folder_and_returns_its_table(cli_features, meshes, tmp_path):
    out = tmp_path / "features"
    df = shapeclf.features(meshes, out, **DEFAULT_FLAGS)
    same_folder(out, cli_features, "descriptors.csv")
    # The default views: principal axes, which bring depth+shade and three augmented copies.
    cfg = read_manifest(out)["views"]["config"]
    assert (cfg["align"], cfg["channels"], cfg["augment"]) == ("pca", "depth+shade", 3), cfg
    header, table = csv_table(cli_features / "descriptors.csv")
    assert list(df.columns) == header
    assert (df.dtypes.iloc[3:] == np.float32).all()
    for _, r in df.iterrows():
        np.testing.assert_array_equal(bits(r.iloc[3:].to_numpy(np.float32)), bits(table[r["path"]]))
    assert df.attrs["failed"] == [] and df.attrs["table"] == str(out / "descriptors.csv")


def test_features_under_other_settings_as_parquet(cli_features_other, meshes, tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    out = tmp_path / "features"
    df = shapeclf.features(meshes, out, **OTHER_FLAGS)
    same_folder(out, cli_features_other, "descriptors.parquet")
    # --align none implied depth alone and no augmented copies (neither is written).
    cfg = read_manifest(out)["views"]["config"]
    assert "augment" not in cfg and "channels" not in cfg and "align" not in cfg, cfg
    want = pd.read_parquet(cli_features_other / "descriptors.parquet")
    pd.testing.assert_frame_equal(df, want, check_exact=True)


def test_failed_meshes_are_reported_as_the_command_line_records_them(meshes, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(meshes / "mug", data / "mug")
    bad = data / "mug" / "train" / "broken.off"
    bad.write_text("OFF\n3 1 0\n0 0 0\n1 0 0\n")
    cli("features", data, "--out", tmp_path / "cli", "--no-views")
    failed = read_manifest(tmp_path / "cli")["failed"]
    assert len(failed) == 1
    with pytest.warns(UserWarning, match="broken.off"):
        df = shapeclf.features(data, tmp_path / "py", views=False)
    assert df.attrs["failed"] == [(failed[0]["path"], failed[0]["error"])]
    with pytest.raises(shapeclf.ShapeclfError, match="1 mesh"), pytest.warns(UserWarning):
        shapeclf.features(data, tmp_path / "py2", views=False, strict=True)
    # The one mesh alone: the same reason, after its path.
    with pytest.raises(shapeclf.ShapeclfError) as e:
        shapeclf.descriptors(bad)
    assert str(e.value) == f"{bad}: {failed[0]['error']}"


def test_the_build_is_the_command_lines(cli_features):
    # Built from one checkout, the package and the command line are one build: the folder the
    # command line wrote records the id this package reports.
    assert read_manifest(cli_features)["tool_version"] == shapeclf.build
    assert shapeclf.build.startswith(shapeclf.__version__ + "+")


def test_a_shard_from_a_job_array_is_warned_of_and_can_be_declined(meshes, tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "2")
    with pytest.warns(UserWarning, match=r"shard 1/2 only.*shard=\"none\""):
        part = shapeclf.features(meshes, tmp_path / "part", views=False)
    assert part.attrs["shard"] == "1/2"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        whole = shapeclf.features(meshes, tmp_path / "whole", views=False, shard="none")
    assert whole.attrs["shard"] is None
    assert 0 < len(part) < len(whole) == 27


# ---------------------------------------------------------------- models


def cli_predictions(model: Path, files: list, top: int) -> list:
    return json.loads(cli("predict", "--model", model, "--json", "--top", top, *files))


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_predictions_are_the_command_lines(kind, models, mesh_files):
    model = shapeclf.Model.load(models[kind])
    assert len(model.classes) == 9
    files = [str(f) for f in mesh_files[::4]]
    for top in (1, 3):
        want = cli_predictions(models[kind], files, top)
        got = model.predict(files, top=top)
        assert [g["path"] for g in got] == [w["path"] for w in want]
        assert [g["error"] for g in got] == [None] * len(files)
        # JSON holds each float32 probability widened to double, as Python floats do.
        assert [[list(t) for t in g["top"]] for g in got] == [w["top"] for w in want]
    proba = model.predict_proba(files)
    assert proba.shape == (len(files), 9) and proba.dtype == np.float32
    # A folder is every mesh file in it and below it, sorted, as the command line takes it.
    folder = Path(files[0]).parent.parent
    want = cli_predictions(models[kind], [folder], 1)
    got = model.predict(folder, top=1)
    assert len(got) > 1 and [g["path"] for g in got] == [w["path"] for w in want]
    assert [[list(t) for t in g["top"]] for g in got] == [w["top"] for w in want]
    empty = folder.parent / "no-meshes"
    empty.mkdir(exist_ok=True)
    with pytest.raises(ValueError, match="holds no mesh files"):
        model.predict(empty)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    full = model.predict(files, top=9)
    for p, g in zip(proba, full):
        assert [c for c, _ in g["top"]] == [model.classes[i] for i in np.argsort(-p, kind="stable")]
        assert dict(g["top"]) == {c: float(q) for c, q in zip(model.classes, p)}


def test_the_cnn_classifies_arrays_as_their_file(models, mesh_files):
    model = shapeclf.Model.load(models["cnn"])
    f = mesh_files[1]
    np.testing.assert_array_equal(model.predict_proba(shapeclf.load_mesh(f)), model.predict_proba(f))
    assert model.predict(shapeclf.load_mesh(f))[0]["path"] is None


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_a_model_pickles_as_the_files_it_was_loaded_from(kind, models, tmp_path, mesh_files):
    import pickle

    folder = tmp_path / kind
    shutil.copytree(models[kind], folder)
    model = shapeclf.Model.load(folder)
    want = model.predict_proba(mesh_files[:3])
    data = pickle.dumps(model)
    # The copy needs no folder: it is the model that was loaded, even once the folder is gone.
    shutil.rmtree(folder)
    copy = pickle.loads(data)
    assert copy.classes == model.classes
    np.testing.assert_array_equal(copy.predict_proba(mesh_files[:3]), want)


def test_a_mesh_that_cannot_be_classified(models, tmp_path, mesh_files):
    model = shapeclf.Model.load(models["mlp"])
    missing = tmp_path / "missing.off"
    files = [str(mesh_files[0]), str(missing)]
    r = subprocess.run([str(BIN), "predict", "--model", str(models["mlp"]), "--json", *files], capture_output=True, text=True)
    assert r.returncode == 3, r.stderr
    want = json.loads(r.stdout)
    got = model.predict(files, errors="keep")
    assert [g["error"] for g in got] == [w["error"] for w in want]
    assert want[1]["error"]
    with pytest.raises(FileNotFoundError, match="missing.off"):
        model.predict(files)
    with pytest.raises(FileNotFoundError):
        model.predict_proba(files)
    # Arrays that are not a usable surface are a ValueError, as for descriptors(); with
    # errors="keep" even arrays of the wrong shape are a reason, not an exception.
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32)
    with pytest.raises(ValueError, match="vertex 7"):
        model.predict_proba((v, np.array([[0, 1, 7]])))
    kept = model.predict(
        [
            (v, np.array([[0, 1, 7]])),
            (v[:, :2], np.array([0, 1, 2])),
            (v, np.array([[0, -1, 2]])),  # refused by the native side, not the Python one
            (v, np.array([[0, 1]])),
            str(mesh_files[0]),
        ],
        errors="keep",
    )
    assert [k["top"] for k in kept][:4] == [[], [], [], []]
    assert "vertex 7" in kept[0]["error"] and "shape" in kept[1]["error"]
    assert kept[2]["error"] and kept[3]["error"] and kept[4]["top"], kept


def test_a_forked_child_computes_after_its_parent_did(mesh_files, models):
    # multiprocessing and DataLoader workers fork on Linux: a child forked after the parent's
    # first call must not wait forever on the parent's worker threads, which it lacks.
    import multiprocessing as mp

    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork on this platform")
    f = str(mesh_files[0])
    model = shapeclf.Model.load(models["cnn"])
    want = (shapeclf.descriptors(f)["d2"], shapeclf.render_views(f), model.predict_proba([f]))
    with mp.get_context("fork").Pool(1) as pool:
        try:
            got = pool.apply_async(_child_calls, (f, model)).get(timeout=120)
        except mp.TimeoutError:
            pool.terminate()
            pytest.fail("the forked child hung")
    for w, g in zip(want, got):
        np.testing.assert_array_equal(w, g)


def _child_calls(f, model):
    return shapeclf.descriptors(f)["d2"], shapeclf.render_views(f), model.predict_proba([f])


def test_settings_the_command_line_refuses_are_refused(mesh_files, meshes, tmp_path):
    with pytest.raises(TypeError, match="seed: "):
        shapeclf.descriptors(mesh_files[0], seed="3")
    with pytest.raises(ValueError, match="seed: -1 is out of range"):
        shapeclf.descriptors(mesh_files[0], seed=-1)
    with pytest.raises(ValueError, match="sh_shells has no effect with sh=False"):
        shapeclf.descriptors(mesh_files[0], sh=False, sh_shells=4)
    with pytest.raises(ValueError, match="augment has no effect with views=False"):
        shapeclf.features(meshes, tmp_path / "a", views=False, augment=2)
    with pytest.raises(ValueError, match="jobs is 1000000; it must lie between 1 and 4096"):
        shapeclf.features(meshes, tmp_path / "b", jobs=10**6)


# ---------------------------------------------------------------- training and comparing


def timeless(report: dict) -> dict:
    """A report without what depends on the clock."""
    if isinstance(report, dict):
        return {k: timeless(v) for k, v in report.items() if k not in ("train_seconds", "samples_per_second")}
    if isinstance(report, list):
        return [timeless(v) for v in report]
    return report


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_train_writes_the_command_lines_model(kind, models, cli_features, tmp_path, mesh_files):
    # The settings the command line's `models` fixture trained with.
    epochs = {"mlp": 5, "cnn": 1}[kind]
    out = tmp_path / kind
    model = shapeclf.train(cli_features, out, model=kind, epochs=epochs)
    want = json.loads((models[kind] / "report.json").read_text())
    assert timeless(model.report) == timeless(want)
    assert model.report == json.loads((out / "report.json").read_text())
    assert shapeclf.Model.load(out).report == model.report
    files = [str(f) for f in mesh_files[::5]]
    np.testing.assert_array_equal(model.predict_proba(files), shapeclf.Model.load(models[kind]).predict_proba(files))


def test_train_settings_are_the_flags(cli_features, tmp_path):
    # Each setting reaches the run as its flag does: the same config.json.
    settings = dict(epochs=3, lr=0.01, batch_size=8, hidden=[16, 8], dropout=0.1, activation="leaky-relu",
                    weight_decay=0.001, schedule="constant", seed=2, optimizer="momentum",
                    class_weight="balanced", histograms="none")
    model = shapeclf.train(cli_features, tmp_path / "py", model="mlp", **settings)
    cli_flags = []
    for k, v in settings.items():
        cli_flags += ["--" + k.replace("_", "-"), ",".join(map(str, v)) if isinstance(v, list) else str(v)]
    cli("train", "--model", "mlp", "--features", cli_features, "--out", tmp_path / "cli", *cli_flags)
    def config(d: Path) -> dict:
        c = json.loads((d / "config.json").read_text())
        # The weights file differs between any two runs in Burn's random parameter ids.
        c.pop("weights_hash")
        return c

    assert config(tmp_path / "py") == config(tmp_path / "cli")
    assert model.report["seed"] == 2
    # A setting the model does not use is warned of, as the command line warns of its flag.
    with pytest.warns(UserWarning, match="hidden does not apply to model logistic"):
        shapeclf.train(cli_features, tmp_path / "lr", model="logistic", hidden=8, epochs=2, weight_decay=0.01)
    with pytest.warns(UserWarning, match="flip=False does not apply to model mlp"):
        shapeclf.train(cli_features, tmp_path / "mlp", model="mlp", flip=False, epochs=2)


def test_two_threads_training_one_folder(cli_features, tmp_path):
    # While one thread trains a folder, a second training of it is refused rather than let the
    # two destroy each other's work.
    out = tmp_path / "cnn"
    results: list = []
    settings = dict(model="cnn", epochs=150, channels=[4, 8], hidden=16)
    first = threading.Thread(target=lambda: results.append(shapeclf.train(cli_features, out, **settings)))
    first.start()
    deadline = time.time() + 120
    while not any(".cnn.staging-" in p.name for p in tmp_path.iterdir()):
        assert time.time() < deadline and first.is_alive(), "the first training never began"
        time.sleep(0.01)
    with pytest.raises(shapeclf.ShapeclfError, match="is being trained by another run in this process"):
        shapeclf.train(cli_features, out, **settings)
    assert first.is_alive(), "the refusal came at once, while the first still trained"
    first.join()
    assert results and results[0].report["epochs_run"] == 150


def test_train_refuses_what_the_command_line_refuses(cli_features, tmp_path):
    msg = cli_error("train", "--model", "mlp", "--features", cli_features, "--out", tmp_path / "x", "--lr=-1")
    with pytest.raises(ValueError) as e:
        shapeclf.train(cli_features, tmp_path / "x", model="mlp", lr=-1)
    assert str(e.value) == msg.replace("--lr", "lr")
    with pytest.raises(ValueError, match="channels widths must lie"):
        shapeclf.train(cli_features, tmp_path / "x", model="cnn", channels=[8, 0])
    with pytest.raises(TypeError, match="unexpected keyword argument 'epoch'"):
        shapeclf.train(cli_features, tmp_path / "x", model="mlp", epoch=3)
    with pytest.raises(TypeError, match="hidden"):
        shapeclf.train(cli_features, tmp_path / "x", model="mlp", hidden="16")
    with pytest.raises(TypeError, match="hidden: expected an integer or a list of them, not bool"):
        shapeclf.train(cli_features, tmp_path / "x", model="mlp", hidden=True)
    with pytest.raises(TypeError, match="model"):
        shapeclf.train(cli_features, tmp_path / "x")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="model: invalid value \"svm\""):
        shapeclf.train(cli_features, tmp_path / "x", model="svm")
    if not shapeclf.gpu:
        with pytest.raises(ValueError, match="built without GPU support"):
            shapeclf.train(cli_features, tmp_path / "x", model="mlp", backend="gpu")
    with pytest.raises(FileNotFoundError):
        shapeclf.train(tmp_path / "no-features", tmp_path / "x", model="mlp")
    # A folder that is not a model folder is never replaced.
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "keep.txt").write_text("mine")
    with pytest.raises(shapeclf.ShapeclfError, match="refusing to replace it"):
        shapeclf.train(cli_features, tmp_path / "data", model="mlp", epochs=1)
    assert (tmp_path / "data" / "keep.txt").read_text() == "mine"
    assert not (tmp_path / "x").exists()


def test_verbose_calls_say_how_far_they_are(meshes, cli_features, tmp_path, capsys):
    shapeclf.features(meshes, tmp_path / "f", views=False, verbose=True)
    err = capsys.readouterr().err
    assert "meshes: 27 of 27 (100%)" in err, err
    shapeclf.train(cli_features, tmp_path / "m", model="logistic", epochs=30, verbose=True)
    err = capsys.readouterr().err
    import re

    assert re.search(r"cross-validation: (\d+) of \1 \(100%\)", err) and "epoch 30: loss" in err, err
    # Quiet unless asked.
    shapeclf.train(cli_features, tmp_path / "m", model="mlp", epochs=2)
    assert capsys.readouterr().err == ""


def test_synth_writes_the_command_lines_files(tmp_path):
    def tree(root: Path) -> dict:
        # (Less the lock file, which holds the writer's process id.)
        return {
            str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".shapeclf.lock"
        }

    cli("synth", tmp_path / "cli", "--per-class", 5, "--seed", 4, "--realistic", "--formats", "glb,off")
    files = shapeclf.synth(tmp_path / "py", per_class=5, seed=4, realistic=True, formats=["glb", "off"])
    assert tree(tmp_path / "py") == tree(tmp_path / "cli")
    assert len(files) == 60 and all(Path(f).is_file() for f in files)
    with pytest.raises(ValueError, match="formats"):
        shapeclf.synth(tmp_path / "bad", formats=["fbx"])
    with pytest.raises(ValueError, match="per_class is -1"):
        shapeclf.synth(tmp_path / "bad", per_class=-1)
    # Never over a user's files.
    with pytest.raises(shapeclf.ShapeclfError, match="writing synthetic dataset"):
        shapeclf.synth(tmp_path / "py", per_class=5)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_a_model_exports_the_command_lines_onnx_file(kind, models, tmp_path, mesh_files):
    cli("export", models[kind], "--onnx", tmp_path / "cli.onnx")
    folder = tmp_path / kind
    shutil.copytree(models[kind], folder)
    model = shapeclf.Model.load(folder)
    # Exported from what was loaded, even once the folder is gone.
    shutil.rmtree(folder)
    summary = model.export_onnx(tmp_path / "py.onnx")
    # An error names the model as loaded, not the call's temporary copy of its files.
    (tmp_path / "a-folder").mkdir()
    with pytest.raises(shapeclf.ShapeclfError) as e:
        model.export_onnx(tmp_path / "a-folder")
    assert "shapeclf-model-" not in str(e.value) and "a-folder" in str(e.value), e.value
    assert (tmp_path / "py.onnx").read_bytes() == (tmp_path / "cli.onnx").read_bytes()
    assert summary["model"] == kind and summary["classes"] == model.classes
    assert summary["bytes"] == (tmp_path / "py.onnx").stat().st_size
    assert [i["name"] for i in summary["inputs"]] == (["views"] if kind == "cnn" else ["descriptors"])
    import importlib.util

    # onnxruntime is in CI's environment (for tests/onnx_runtime.rs), not a need of the package.
    if kind == "mlp" and importlib.util.find_spec("onnxruntime"):
        import onnxruntime as ort

        # The graph takes a mesh's raw descriptor row and gives its probabilities.
        session = ort.InferenceSession(str(tmp_path / "py.onnx"))
        row = np.concatenate([a.ravel() for a in shapeclf.descriptors(mesh_files[0]).values()])
        (p,) = session.run(None, {"descriptors": row[None, :]})
        np.testing.assert_allclose(p[0], model.predict_proba(mesh_files[0])[0], atol=1e-5)


def test_compare_returns_the_command_lines_table(cli_features, tmp_path):
    models = tmp_path / "models"
    shapeclf.train(cli_features, models / "mlp", model="mlp", epochs=3, repeats=3)
    logistic = shapeclf.train(cli_features, models / "logistic", model="logistic", epochs=20, weight_decay=0.01)
    (models / "broken").mkdir()
    (models / "broken" / "report.json").write_text("{")
    with pytest.warns(UserWarning, match="broken: left out"):
        df = shapeclf.compare(models)
    assert list(df.index) == ["logistic", "mlp"]
    assert df.loc["logistic", "accuracy"] == logistic.report["accuracy"]
    assert np.isnan(df.loc["logistic", "accuracy_std"]) and df.loc["logistic", "seeds"] == 1
    mlp = json.loads((models / "mlp" / "report.json").read_text())
    assert df.loc["mlp", "seeds"] == 3
    assert df.loc["mlp", "accuracy"] == mlp["spread"]["accuracy"]["mean"]
    assert df.loc["mlp", "accuracy_std"] == mlp["spread"]["accuracy"]["std"]
    for f in ("comparison.md", "comparison.png", "comparison.html"):
        assert (models / f).is_file()
    # The command line's comparison of the same folder: the same rows.
    text = cli("compare", "--models", models)
    assert "logistic" in text and "mlp" in text
    with pytest.raises(FileNotFoundError):
        shapeclf.compare(tmp_path / "no-models")


def test_ctrl_c_stops_training_and_resume_continues_it(cli_features, tmp_path):
    import signal
    import sys

    out = tmp_path / "cnn"
    script = (
        "import signal, sys, shapeclf\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "settings = dict(model='cnn', epochs=80, channels=[4, 8], hidden=16, verbose=True)\n"
        "try:\n"
        "    shapeclf.train(sys.argv[1], sys.argv[2], **settings)\n"
        "    print('finished', flush=True)\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', flush=True)\n"
        "import os\n"
        "print('folder' if os.path.exists(sys.argv[2]) else 'no folder', flush=True)\n"
        "m = shapeclf.train(sys.argv[1], sys.argv[2], resume=True, **settings)\n"
        "print('resumed', len(m.report['history']), flush=True)\n"
    )
    p = subprocess.Popen(
        [sys.executable, "-c", script, str(cli_features), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # The first epoch's line comes once it has ended (and its checkpoint is written just after).
    seen = []
    while True:
        line = p.stderr.readline()
        assert line, f"training ended before an epoch: {seen}"
        seen.append(line)
        if line.startswith("epoch 1:"):
            break
    time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=600)
    stderr = "".join(seen) + stderr
    assert p.returncode == 0, (stdout, stderr)
    lines = stdout.splitlines()
    assert lines[:2] == ["interrupted", "no folder"], (stdout, stderr)
    assert "resuming after epoch" in stderr, stderr
    assert lines[2] == "resumed 80", stdout
    assert (out / "model.bpk").is_file()
    assert not [p for p in tmp_path.iterdir() if ".staging-" in p.name]


# ---------------------------------------------------------------- errors and the GIL


def cli_error(*args: object) -> str:
    r = subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True)
    assert r.returncode != 0
    line = [l for l in r.stderr.splitlines() if l.startswith("error: ")][-1]
    return line[len("error: ") :]


def test_errors_carry_the_command_lines_messages(meshes, mesh_files, tmp_path):
    # A setting out of range: the command line's message, naming the keyword argument where
    # the command line names its flag.
    msg = cli_error("features", meshes, "--out", tmp_path / "x", "--d2-points", 1)
    assert msg.startswith("invalid setting: --d2-points is 1"), msg
    with pytest.raises(ValueError) as e:
        shapeclf.descriptors(mesh_files[0], d2_points=1)
    assert str(e.value) == msg.replace("--d2-points", "d2_points")
    with pytest.raises(ValueError) as e:
        shapeclf.features(meshes, tmp_path / "y", d2_points=1)
    assert str(e.value) == msg.replace("--d2-points", "d2_points")
    msg = cli_error("features", meshes, "--out", tmp_path / "x", "--view-res", 4)
    with pytest.raises(ValueError) as e:
        shapeclf.render_views(mesh_files[0], res=4)
    assert str(e.value) == msg.replace("--view-res", "res")
    msg = cli_error("features", tmp_path / "nothing", "--out", tmp_path / "z")
    with pytest.raises(FileNotFoundError) as e:
        shapeclf.features(tmp_path / "nothing", tmp_path / "z")
    assert str(e.value) == msg
    with pytest.raises(FileNotFoundError, match="nope.off"):
        shapeclf.descriptors(tmp_path / "nope.off")
    with pytest.raises(FileNotFoundError):
        shapeclf.Model.load(tmp_path / "no-model")
    with pytest.raises(TypeError, match="unexpected keyword argument 'd2_point'"):
        shapeclf.descriptors(mesh_files[0], d2_point=10)
    with pytest.raises(ValueError, match="align"):
        shapeclf.render_views(mesh_files[0], align="sideways")
    with pytest.raises(ValueError, match="references vertex 7"):
        shapeclf.descriptors((np.zeros((3, 3)), np.array([[0, 1, 7]])))
    with pytest.raises(ValueError, match="shape"):
        shapeclf.descriptors((np.zeros((3, 2)), np.array([[0, 1, 2]])))
    with pytest.raises(TypeError):
        shapeclf.descriptors(42)
    with pytest.raises(ValueError, match="checkpoint_every"):
        shapeclf.features(meshes, tmp_path / "w", checkpoint_every=-1)


def test_heavy_calls_release_the_gil(mesh_files):
    ticks = []
    done = threading.Event()

    def tick():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    t = threading.Thread(target=tick)
    t.start()
    try:
        with pytest.warns(UserWarning, match="x the default: expect"):
            start = time.perf_counter()
            shapeclf.descriptors(mesh_files[0], d2_points=16000, sdf_points=16384, sh=False)
            end = time.perf_counter()
    finally:
        done.set()
        t.join()
    during = [x for x in ticks if start < x < end]
    assert end - start > 0.05, "the call was too quick to tell"
    # Held by the call, the GIL would keep the other thread from ticking at all until it
    # returned; released, it ticks about every millisecond (asked: one per 10 ms).
    assert len(during) >= max(3, (end - start) / 0.01), (len(during), end - start)


# ---------------------------------------------------------------- the examples


def load_example(name: str):
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_sklearn_example_runs(meshes, tmp_path, capsys):
    pytest.importorskip("sklearn")
    accuracy = load_example("sklearn_pipeline").main(str(meshes), str(tmp_path / "features"))
    assert 0.0 <= accuracy <= 1.0
    assert "test accuracy" in capsys.readouterr().out


def test_the_comparison_example_runs(meshes, tmp_path, capsys):
    table = load_example("compare_models").main(str(meshes), str(tmp_path / "work"), quick=True)
    assert list(table.index) == ["cnn", "fusion", "logistic", "mlp"]
    out = capsys.readouterr().out
    assert "fusion: test accuracy" in out and "'top'" in out
    assert (tmp_path / "work" / "models" / "comparison.html").is_file()


def test_the_torch_example_runs(meshes, capsys):
    # torch is not needed by the package nor installed by CI (a wheel of hundreds of MB);
    # where it is installed the example is run for one epoch.
    pytest.importorskip("torch")
    load_example("torch_views").main(str(meshes), epochs=1)
    assert "test accuracy" in capsys.readouterr().out


def test_ctrl_c_stops_features_as_it_stops_the_command_line(tmp_path):
    import signal
    import sys

    data, out = tmp_path / "meshes", tmp_path / "features"
    cli("synth", data, "--per-class", 40)
    # A mesh beside the class folders, which the layout does not read: an interrupted run
    # still says so (the warning has no returned table to travel in).
    shutil.copy(next(data.rglob("*.off")), data / "stray.off")
    # Python leaves Ctrl-C ignored when it starts with SIGINT ignored, as a background job of
    # a non-interactive shell does (`nohup ... &`, some CI runners): the interpreter a user
    # types Ctrl-C into has Python's own handler, so the child sets it explicitly.
    script = (
        "import signal, sys, shapeclf\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "print('started', flush=True)\n"
        "shapeclf.features(sys.argv[1], sys.argv[2])\n"
        "print('finished', flush=True)\n"
    )
    p = subprocess.Popen(
        [sys.executable, "-c", script, str(data), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert p.stdout.readline() == "started\n"
    time.sleep(1.0)
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=120)
    assert p.returncode != 0 and "KeyboardInterrupt" in stderr, (p.returncode, stdout, stderr)
    assert "finished" not in stdout
    assert "UserWarning: 1 mesh file(s) under" in stderr, stderr
    # What was done is written, the rest counted as not reached, as the command line does.
    counts = read_manifest(out)["counts"]
    assert counts["found"] == 360 and counts["not_reached"] > 0, counts
    assert counts["ok"] + counts["failed"] + counts["not_reached"] == 360, counts


def test_table_paths_lead_back_to_their_files(mesh_files, tmp_path):
    root = tmp_path / "odd"
    (root / "cup").mkdir(parents=True)
    ext = mesh_files[0].suffix
    for n in ["100%", "a b", "caf\u00e9"]:
        shutil.copy(mesh_files[0], root / "cup" / f"{n}{ext}")
    shutil.copy(mesh_files[1], root / "cup" / f"other{mesh_files[1].suffix}")
    # A mesh beside the class folders is not read: the run's warning reaches Python.
    shutil.copy(mesh_files[1], root / f"stray{mesh_files[1].suffix}")
    with pytest.warns(UserWarning, match="1 mesh file\\(s\\) under .* are not read"):
        df = shapeclf.features(root, tmp_path / "f", views=False)
    assert len(df) == 4 and f"cup/100%25{ext}" in list(df.path), list(df.path)
    for p in df.path:
        assert Path(shapeclf.mesh_path(root, p)).is_file(), p
