"""shapeclf from Python: a mesh's descriptors and depth views as NumPy arrays, a dataset's
feature table as a pandas DataFrame, and trained models that classify meshes.

Every call runs shapeclf's Rust library (no subprocess) and gives exactly what the
``shapeclf`` command line gives for the same settings: the same descriptor values, view
pixels, tables and probabilities. Heavy calls release the GIL. Errors are Python exceptions
with the command line's messages: :class:`ShapeclfError`, ``FileNotFoundError`` for a missing
path, ``ValueError`` for invalid settings or arrays. Reference: docs/PYTHON.md.
"""

from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING, Any, Dict, List, NoReturn, Optional, Sequence, Tuple, Union

import numpy as np

from . import _shapeclf
from ._shapeclf import ShapeclfError

if TYPE_CHECKING:  # pragma: no cover
    import pandas
    from typing_extensions import TypeGuard

__version__: str = _shapeclf.__version__
#: The version and a hash of the source this package was built from, as feature folders and
#: models record it (``tool_version``) and ``shapeclf --version`` prints it: rows are reused
#: only by the build that wrote them, so the command line and this package share rows when
#: built from one checkout.
build: str = _shapeclf.BUILD_ID
#: Whether this package was built with GPU support (``--features wgpu`` or ``vulkan``), so that
#: :func:`train` takes ``backend="gpu"``.
gpu: bool = _shapeclf.GPU

__all__ = [
    "ShapeclfError",
    "synth",
    "Model",
    "load_mesh",
    "descriptors",
    "render_views",
    "features",
    "train",
    "compare",
    "mesh_path",
]

PathLike = Union[str, "os.PathLike[str]"]
#: A mesh file's path, or ``(vertices [n, 3], faces [m, 3])`` arrays.
MeshLike = Union[PathLike, Tuple[Any, Any]]


def _is_path(x: Any) -> "TypeGuard[PathLike]":
    return isinstance(x, (str, os.PathLike))


def _is_arrays(x: Any) -> "TypeGuard[Tuple[Any, Any]]":
    return isinstance(x, tuple) and len(x) == 2 and not any(_is_path(p) for p in x)


def _mesh_args(mesh: MeshLike) -> Tuple[Optional[str], Optional[np.ndarray], Optional[np.ndarray]]:
    """The native calls' (path, vertices, faces) for a path or a (vertices, faces) pair."""
    if _is_path(mesh):
        return os.fspath(mesh), None, None
    if _is_arrays(mesh):
        v = np.ascontiguousarray(mesh[0], dtype=np.float32)
        f = np.asarray(mesh[1])
        if f.size and not np.issubdtype(f.dtype, np.integer):
            raise ValueError(f"faces must be integer vertex indices, not {f.dtype}")
        f = np.ascontiguousarray(f, dtype=np.int64)
        if v.ndim != 2 or f.ndim != 2:
            raise ValueError(
                f"vertices must have shape (n, 3) and faces (m, 3), not {v.shape} and {f.shape}"
            )
        return None, v, f
    raise TypeError(
        f"expected a mesh file's path or a (vertices, faces) pair, not {type(mesh).__name__}"
    )


def mesh_path(root: PathLike, path: str) -> str:
    """The file a table row's ``path`` names under the dataset folder ``root``.

    Table paths are relative to ``root`` with ``/`` between folders, and kept lossless as text:
    a byte of a name that is not UTF-8 is written ``%XX`` and ``%`` itself ``%25``
    (``100%.off`` is ``100%25.off`` in the table). This undoes that, so
    ``shapeclf.descriptors(shapeclf.mesh_path(root, df.path[i]))`` reads row ``i``'s file.
    """
    import urllib.parse

    return os.path.join(os.fspath(root), os.fsdecode(urllib.parse.unquote_to_bytes(path)))


def _warn(messages: Sequence[str]) -> None:
    for m in messages:
        warnings.warn(m, stacklevel=3)


def load_mesh(path: PathLike, normalize: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """Read an OBJ, OFF, STL, PLY, GLB or glTF file.

    Returns ``(vertices, faces)``: ``float32 [n, 3]`` positions and ``int64 [m, 3]`` triangles
    (polygons fan-triangulated), validated as shapeclf loads every mesh (finite coordinates,
    indices in range, degenerate triangles dropped). ``normalize=True`` also centres, scales
    into the unit sphere and orients the faces outwards: the mesh the descriptors see.
    """
    return _shapeclf.load_mesh(os.fspath(path), normalize)


def _group(columns: Sequence[str], values: np.ndarray) -> Dict[str, np.ndarray]:
    """Columns named ``prefix_...`` as one array per prefix, in table order; the spherical
    harmonics (``sh_rRR_lLL``) as ``[shells, degrees]``."""
    groups: Dict[str, List[int]] = {}
    for i, c in enumerate(columns):
        groups.setdefault(c.split("_", 1)[0], []).append(i)
    out: Dict[str, np.ndarray] = {}
    for name, idx in groups.items():
        a = values[idx[0] : idx[-1] + 1]
        if name == "sh":
            shells = len({columns[i].split("_")[1] for i in idx})
            a = a.reshape(shells, -1)
        out[name] = a
    return out


def descriptors(mesh: MeshLike, **settings: Any) -> Dict[str, np.ndarray]:
    """One mesh's descriptors, exactly as ``shapeclf features`` computes its table row.

    Settings (keywords, each the ``features`` flag of that name; left out: the command
    line's default): ``seed``, ``d2_points``, ``d2_pairs``, ``sdf_points``, ``sdf_rays``,
    ``sh`` (False: ``--no-sh``), ``sh_shells``, ``sh_degrees``, ``sh_points``, ``max_faces``.

    Returns ``float32`` arrays by column group, in table order: ``d2``, ``sdf``, ``d1``,
    ``a3``, ``d3`` (histograms), ``sdfstat`` (mean, std, median, nohit), ``shape`` (pca_mid,
    pca_min, log_area) and ``sh`` (``[shells, degrees]``). Concatenating the raveled arrays
    gives the table row. A file's random draws are seeded from its bytes (as in ``features``,
    whatever its path); arrays are seeded from their values, so a file and the arrays it holds
    give different samples.
    """
    columns, values, warns = _shapeclf.descriptors(*_mesh_args(mesh), **settings)
    _warn(warns)
    return _group(columns, values)


def render_views(
    mesh: MeshLike,
    layout: Optional[str] = None,
    res: Optional[int] = None,
    align: Optional[str] = None,
    channels: Optional[str] = None,
    up: Optional[str] = None,
    dtype: Any = np.uint8,
) -> np.ndarray:
    """One mesh's depth views, pixel for pixel those of its view image in a feature folder.

    ``layout`` (``"ring12"`` or ``"dodecahedron"``), ``res`` (pixels per side, default 32),
    ``align`` (``"none"`` or ``"pca"``), ``channels`` (``"depth"`` or ``"depth+shade"``;
    default ``"depth+shade"`` under ``align="pca"``, else ``"depth"``) and ``up`` (``"x"``,
    ``"y"``, ``"z"``) are the ``features`` flags ``--views``, ``--view-res``, ``--align``,
    ``--view-channels`` and ``--up``; ``None`` takes the command line's default.

    Returns ``[views, channels, res, res]``: ``uint8`` (depth 0 background, 255 nearest;
    shading 0 to 255), or with a float ``dtype`` those values divided by 255.
    """
    given: Dict[str, Any] = dict(layout=layout, res=res, align=align, channels=channels, up=up)
    kwargs = {k: v for k, v in given.items() if v is not None}
    pixels, shape, warns = _shapeclf.render_views(*_mesh_args(mesh), **kwargs)
    _warn(warns)
    views = pixels.reshape(shape)
    dt = np.dtype(dtype)
    if dt == np.uint8:
        return views
    if not np.issubdtype(dt, np.floating):
        raise ValueError(f"dtype must be uint8 or a float type, not {dt}")
    return views.astype(dt) / dt.type(255)


def synth(
    dir: PathLike,
    per_class: int = 40,
    seed: int = 0,
    realistic: bool = False,
    subdivide: int = 0,
    formats: Sequence[str] = ("off", "obj", "stl", "ply"),
) -> List[str]:
    """Write a labelled dataset of procedurally modelled shapes, as ``shapeclf synth`` does:
    ``dir/<class>/{train,test}/<mesh>`` (one shape in five to test), the same files for the
    same settings. ``dir`` must be new or empty.

    ``realistic=True`` gives twelve classes in arbitrary poses, scaled, roughened and holed: as
    hard as real data (the development set). ``subdivide`` splits every triangle into four that
    many times; ``formats`` are cycled through shape by shape (``"off"``, ``"obj"``, ``"stl"``,
    ``"ply"``, ``"glb"``, ``"gltf"``). Returns the files written.
    """
    if isinstance(formats, str):
        formats = formats.split(",")
    for name, v in (("per_class", per_class), ("seed", seed), ("subdivide", subdivide)):
        if not isinstance(v, int) or isinstance(v, bool):
            raise TypeError(f"{name} must be an integer, not {type(v).__name__}")
        if v < 0:
            raise ValueError(f"{name} is {v}; it must be 0 or more")
    files = _shapeclf.synth(os.fspath(dir), per_class, seed, subdivide, list(formats), realistic)
    return [os.fspath(f) for f in files]


def features(
    root: PathLike,
    out: PathLike = "features",
    strict: bool = False,
    verbose: bool = False,
    **settings: Any,
) -> "pandas.DataFrame":
    """Run ``shapeclf features ROOT --out OUT`` as a library call and return its table.

    Writes the same feature folder as the command line (table, manifest, view images) and
    reuses unchanged rows of an earlier run in ``out`` unless ``fresh=True``. Settings are the
    ``features`` flags by name: those of :func:`descriptors`, those of :func:`render_views`,
    and ``views`` (False: ``--no-views``), ``augment`` (``--view-augment``), ``jobs``,
    ``fresh``, ``format`` (``"csv"`` or ``"parquet"``), ``shard`` (``"I/N"``), ``shards`` and
    ``checkpoint_every`` (seconds between writes of what is done while the run goes on, 600 by
    default; 0 or None: only at the end). Inside a Slurm job array or a Kubernetes Indexed Job the run computes that task's shard,
    as the command line does, with a warning; ``shard="none"`` computes the whole dataset.
    ``df.attrs["shard"]`` says which shard the table is (``None``: the whole dataset).

    Returns a DataFrame with ``path``, ``class`` and ``split`` then one ``float32`` column per
    descriptor, as the table file; ``df.attrs["failed"]`` lists ``(path, reason)`` of meshes
    that failed (each also a warning) and ``df.attrs["table"]`` the table file. ``strict=True``
    raises :class:`ShapeclfError` if any mesh failed (``--strict``). Ctrl-C stops the run as
    a first Ctrl-C stops the command line (the meshes in hand finish, what is done is
    written, unless the rows of an earlier run in ``out`` were not all checked yet), then
    raises ``KeyboardInterrupt``. The run's warnings (mesh files the layout does not read,
    copies across splits, classes without test meshes) are ``UserWarning``\ s.
    ``verbose=True`` writes how many meshes are done to ``sys.stderr`` every few seconds, and
    the warnings as they come.
    """
    import pandas as pd

    root, out = os.fspath(root), os.fspath(out)
    _warn(_shapeclf.check_features(out, **settings))
    r = _shapeclf.features(root, out, verbose, **settings)
    df = pd.DataFrame(r["values"], columns=list(r["columns"]))
    df.insert(0, "split", r["split"])
    df.insert(0, "class", r["class"])
    df.insert(0, "path", r["path"])
    failed = [tuple(f) for f in r["failed"]]
    df.attrs["failed"] = failed
    df.attrs["table"] = os.fspath(r["table"])
    df.attrs["shard"] = r["shard"]
    for w in r.get("warnings", []):
        warnings.warn(w, stacklevel=2)
    for path, reason in failed:
        warnings.warn(f"failed: {path}: {reason}", stacklevel=2)
    if strict and failed:
        raise ShapeclfError(f"strict: {len(failed)} mesh(es) failed")
    return df


def train(
    features: PathLike = "features",
    out: Optional[PathLike] = None,
    *,
    model: str,
    verbose: bool = False,
    **settings: Any,
) -> "Model":
    """Run ``shapeclf train`` as a library call: train ``model`` on a feature folder, write the
    model folder ``out`` (default ``models/<model>``) and return it loaded.

    ``model`` is ``"logistic"``, ``"mlp"``, ``"cnn"`` or ``"fusion"``. Settings are the
    ``train`` flags by name, each defaulting as on the command line: ``backend``, ``seed``,
    ``epochs``, ``lr``, ``batch_size``, ``weight_decay``, ``optimizer``, ``hidden`` (an int or
    a list), ``activation``, ``dropout``, ``val_fraction``, ``patience``, ``positive``,
    ``class_weight``, ``channels``, ``schedule``, ``views_in_memory``, ``repeats``,
    ``resume``, ``histograms``, ``branch_dropout``, ``flip`` (False: ``--no-flip``),
    ``jitter``, ``train_views``. A setting the model does not use is a ``UserWarning``, as
    the command line warns of the flag.

    The returned :class:`Model` carries the run's report (``model.report``: scores, the
    confusion matrix, every epoch's numbers). ``verbose=True`` writes each epoch's numbers to
    ``sys.stderr`` as training goes. Ctrl-C stops training after the batch in hand and raises
    ``KeyboardInterrupt``: no model folder is written, and the run's last checkpoint is kept,
    so ``resume=True`` with the same settings continues from it. Calls from several threads
    train one after another (Burn's random stream belongs to the process), and two that write
    the same ``out`` at once are refused.
    """
    features = os.fspath(features)
    out = os.fspath(out) if out is not None else os.path.join("models", str(model))
    # Settings the model does not use are said before a run that may take minutes.
    _warn(_shapeclf.check_train(model, **settings))
    _warn(_shapeclf.train(features, out, model, verbose, **settings))
    # The folder just written, with its report.
    return Model.load(out)


def compare(models: PathLike = "models") -> "pandas.DataFrame":
    """Run ``shapeclf compare``: every trained model folder under ``models`` side by side.

    Writes ``comparison.md``, ``comparison.png`` and ``comparison.html`` (the one page with
    every model's pictures) into ``models`` and returns the table, one row per model folder
    (the index is the folder's name): ``model``, ``accuracy``, ``mean_class_accuracy`` and
    ``macro_f1`` on the test split (each the mean over seeds for a model trained with
    ``repeats``, with ``*_std`` their standard deviation and ``seeds`` their number),
    ``train_seconds``, ``parameters``, ``test_size`` and ``backend``. A folder whose report is
    missing or broken is left out with a ``UserWarning``.
    """
    import json

    import pandas as pd

    rows_text, skipped = _shapeclf.compare(os.fspath(models))
    rows = []
    for r in json.loads(rows_text):
        spread = r.get("spread")
        row: Dict[str, Any] = {"name": r["name"], "model": r["model"]}
        for k in ("accuracy", "mean_class_accuracy", "macro_f1"):
            row[k] = spread[k]["mean"] if spread else r[k]
            row[k + "_std"] = spread[k]["std"] if spread else float("nan")
        row["seeds"] = spread["runs"] if spread else 1
        for k in ("train_seconds", "parameters", "test_size", "backend"):
            row[k] = r[k]
        rows.append(row)
    _warn([f"{name}: left out: {why}" for name, why in skipped])
    return pd.DataFrame(rows).set_index("name")


def _mesh_list(meshes: Union[MeshLike, Sequence[MeshLike]]) -> List[MeshLike]:
    """The meshes to classify, each folder replaced by the mesh files in it and below it
    (sorted), as ``shapeclf predict`` takes them; ``ValueError`` for a folder without meshes."""
    items: List[Any] = [meshes] if _is_path(meshes) or _is_arrays(meshes) else list(meshes)  # type: ignore[arg-type]
    out: List[MeshLike] = []
    for m in items:
        if _is_path(m) and os.path.isdir(m):
            out.extend(os.fspath(p) for p in _shapeclf.expand_mesh_paths([os.fspath(m)]))
        else:
            out.append(m)
    return out


def _model_files(path: str) -> Dict[str, bytes]:
    """The bytes of the files loading the model folder ``path`` reads (those present)."""
    out: Dict[str, bytes] = {}
    for name in _shapeclf.MODEL_FILES:
        p = os.path.join(path, name)
        if os.path.isfile(p):
            with open(p, "rb") as f:
                out[name] = f.read()
    return out


def _write_files(files: Dict[str, bytes], folder: str) -> None:
    """Writes a model's files (:func:`_model_files`) into ``folder``: the folder it was loaded
    from, again."""
    for name, data in files.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)


def _read_report(path: str) -> Optional[Dict[str, Any]]:
    """The model folder's ``report.json``, or None when it is missing or unreadable."""
    import json

    try:
        with open(os.path.join(path, "report.json"), "rb") as f:
            r = json.load(f)
    except (OSError, ValueError):
        return None
    return r if isinstance(r, dict) else None


class Model:
    """A model folder written by ``shapeclf train``, loaded once to classify many meshes.

    Each mesh goes through the descriptors or views the model was trained on, with the
    feature folder's exact settings, as ``shapeclf predict`` does.
    """

    def __init__(
        self,
        native: "_shapeclf.NativeModel",
        files: Dict[str, bytes],
        report: Optional[Dict[str, Any]] = None,
    ) -> None:
        self._native = native
        self._files = files
        self._report = report

    @classmethod
    def load(cls, path: PathLike) -> "Model":
        """Load the model folder ``path`` (``FileNotFoundError`` if it is missing).

        The model pickles (for spawned ``DataLoader`` workers, joblib, multiprocessing) as the
        bytes of the files it was loaded from, so an unpickled copy is the same model even where
        the folder is not, or has been retrained since."""
        path = os.fspath(path)
        before = _model_files(path)
        native = _shapeclf.NativeModel.load(path)
        if _model_files(path) != before:
            raise ShapeclfError(f"{path}: the model folder changed while it was loaded; load it again")
        return cls(native, before, _read_report(path))

    @property
    def report(self) -> Optional[Dict[str, Any]]:
        """The training run's report (``report.json``: test scores, confusion matrix, every
        epoch's numbers, the spread over seeds), or None when the folder had none."""
        return self._report

    def __getstate__(self) -> Dict[str, Any]:
        return {"files": self._files, "report": self._report}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        import tempfile

        files = state["files"]
        with tempfile.TemporaryDirectory(prefix="shapeclf-model-") as d:
            _write_files(files, d)
            self._native = _shapeclf.NativeModel.load(d)
        self._files = files
        self._report = state.get("report")

    @property
    def classes(self) -> List[str]:
        """Class names, the columns of :meth:`predict_proba`."""
        return list(self._native.classes)

    def _probabilities(self, mesh: MeshLike, keep: bool = False) -> Tuple[Optional[np.ndarray], Optional[str]]:
        """The mesh's probabilities, or why not; with ``keep``, arrays of the wrong shape or
        type are a reason too, not an exception."""
        try:
            args = _mesh_args(mesh)
            return self._native.probabilities(*args)
        except (ValueError, TypeError) as e:
            # Arrays the native side refuses (indices out of range, two columns) as well.
            if keep and not _is_path(mesh):
                return None, str(e)
            raise

    @staticmethod
    def _raise(mesh: MeshLike, error: str) -> "NoReturn":
        if not _is_path(mesh):
            # Arrays that are not a usable surface, as the docs and descriptors() say.
            raise ValueError(f"mesh arrays: {error}")
        name = os.fspath(mesh)
        if not os.path.exists(name):
            raise FileNotFoundError(f"{name}: {error}")
        raise ShapeclfError(f"{name}: {error}")

    def predict_proba(self, meshes: Union[MeshLike, Sequence[MeshLike]]) -> np.ndarray:
        """``float32 [n, len(classes)]``: each mesh's class probabilities. A mesh that cannot be
        classified raises, naming it and why: ``FileNotFoundError`` for a missing file,
        ``ValueError`` for arrays that are not a usable surface, :class:`ShapeclfError` else."""
        rows = []
        for m in _mesh_list(meshes):
            p, error = self._probabilities(m)
            if p is None:
                self._raise(m, error or "no probabilities")
            rows.append(p)
        return np.stack(rows) if rows else np.zeros((0, len(self.classes)), np.float32)

    def predict(
        self,
        meshes: Union[MeshLike, Sequence[MeshLike]],
        top: int = 3,
        errors: str = "raise",
    ) -> List[Dict[str, Any]]:
        """Each mesh's ``top`` most probable classes, as ``shapeclf predict --json --top``
        gives them: ``{"path", "top": [(class, probability), ...], "error"}`` per mesh, most
        probable first (``path`` is None for arrays). A mesh that cannot be classified raises,
        or with ``errors="keep"`` gets its reason in ``error`` and an empty ``top``, as the
        command line reports it.
        """
        if errors not in ("raise", "keep"):
            raise ValueError(f'errors must be "raise" or "keep", not {errors!r}')
        if top < 1:
            raise ValueError(f"top must be at least 1, not {top}")
        out = []
        for m in _mesh_list(meshes):
            p, error = self._probabilities(m, keep=errors == "keep")
            if error is not None and errors == "raise":
                self._raise(m, error)
            ranked = [] if p is None else [tuple(c) for c in self._native.ranked(p, top)]
            out.append(
                {
                    "path": os.fspath(m) if _is_path(m) else None,
                    "top": ranked,
                    "error": error,
                }
            )
        return out

    def export_onnx(self, path: PathLike) -> Dict[str, Any]:
        """Write the model as an ONNX file, as ``shapeclf export --onnx`` does: one graph from
        the raw inputs (descriptor rows, view pixels) to class probabilities, standardisation
        included, that onnxruntime runs without shapeclf. Written atomically.

        Returns what the file holds: ``model`` (its kind), ``inputs`` (each input's ``name``,
        ``descriptors`` or ``views``, and ``shape``, ``None`` for the batch dimension),
        ``classes`` (the output's columns), ``opset`` and ``bytes``. The model exported is the
        one loaded, whatever has become of its folder since."""
        import json
        import tempfile

        with tempfile.TemporaryDirectory(prefix="shapeclf-model-") as d:
            _write_files(self._files, d)
            try:
                summary: Dict[str, Any] = json.loads(_shapeclf.export_onnx(d, os.fspath(path)))
            except ShapeclfError as e:
                # The folder named is this call's own temporary copy of the model's files.
                raise ShapeclfError(str(e).replace(d, "the loaded model")) from None
        return summary

    def __repr__(self) -> str:
        return f"Model(classes={self.classes!r})"
