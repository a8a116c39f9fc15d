//! `shapeclf._shapeclf`: the native half of the `shapeclf` Python package. Thin bindings over
//! the library: every setting goes through [`FeatureSettings`] (the command line's own policy),
//! every heavy call runs with the interpreter released ([`Python::detach`]), and every failure
//! becomes a Python exception carrying the message the command line prints. The Python half
//! (`python/shapeclf/__init__.py`) shapes the results (dicts, DataFrames) for users.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyFileNotFoundError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use shapeclf::descriptors::views::{Align, UpAxis, ViewLayout, Views};
use shapeclf::extract::{self, ExtractError, FeatureSettings};
use shapeclf::features::TableFormat;
use shapeclf::inference;
use shapeclf::mesh::{MeshError, RawMesh};
use shapeclf::models::ModelKind;
use shapeclf::train::TrainSettings;

create_exception!(
    shapeclf,
    ShapeclfError,
    PyException,
    "A shapeclf operation failed; the message is the one the command line prints."
);

/// The error and its causes, `: `-separated, leaving out a cause whose text the message before
/// it already contains: the command line's `error:` line without `error: `.
fn chain_message(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = String::new();
    let mut cause = Some(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// Whether a missing file or folder is among `e`'s causes.
fn not_found(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound)
        {
            return true;
        }
        cause = c.source();
    }
    false
}

/// A library error as a Python exception: `FileNotFoundError` when a missing path is the cause,
/// else [`ShapeclfError`], with the command line's message (`prefix` first, when given).
fn py_error(e: &(dyn std::error::Error + 'static), prefix: Option<&str>) -> PyErr {
    let msg = match prefix {
        Some(p) => format!("{p}: {}", chain_message(e)),
        None => chain_message(e),
    };
    if not_found(e) {
        PyFileNotFoundError::new_err(msg)
    } else {
        ShapeclfError::new_err(msg)
    }
}

/// A mesh's error: a file's names the file (as `features` records it beside its path); a mesh
/// given as arrays that is not a usable surface is a `ValueError`.
fn mesh_error(e: &MeshError, source: &MeshSource) -> PyErr {
    match source {
        MeshSource::File(p) => py_error(e, Some(&p.display().to_string())),
        MeshSource::Arrays(_) if !matches!(e, MeshError::Io(_)) => {
            PyValueError::new_err(format!("mesh arrays: {}", chain_message(e)))
        }
        MeshSource::Arrays(_) => py_error(e, Some("mesh arrays")),
    }
}

/// Runs `f` with the interpreter released, on this process's own worker pool (a process forked
/// after a call, as `multiprocessing` and `DataLoader` workers are, gets a pool of its own:
/// [`shapeclf::pool`]); a panic (a bug) becomes a [`ShapeclfError`] asking for a report, as
/// one mesh's panic does in `features`.
fn detached<T: Send>(py: Python<'_>, f: impl FnOnce() -> T + Send) -> PyResult<T> {
    py.detach(|| shapeclf::pool::install(|| catch_unwind(AssertUnwindSafe(f))))
        .map_err(|p| ShapeclfError::new_err(extract::panic_error(p.as_ref())))
}

/// A mesh to work on: a file, or vertex and triangle arrays.
enum MeshSource {
    File(PathBuf),
    Arrays(RawMesh),
}

impl MeshSource {
    /// From the Python half's arguments: a path, or C-contiguous `float32 [n, 3]` vertices and
    /// `int64 [m, 3]` faces.
    fn new(
        path: Option<PathBuf>,
        vertices: Option<PyReadonlyArray2<'_, f32>>,
        faces: Option<PyReadonlyArray2<'_, i64>>,
    ) -> PyResult<MeshSource> {
        match (path, vertices, faces) {
            (Some(p), None, None) => Ok(MeshSource::File(p)),
            (None, Some(v), Some(f)) => Ok(MeshSource::Arrays(raw_mesh(&v, &f)?)),
            _ => Err(PyTypeError::new_err(
                "give a mesh file's path or (vertices, faces) arrays",
            )),
        }
    }
}

/// Vertex and face arrays as a [`RawMesh`], checking their shapes and that every index fits.
fn raw_mesh(v: &PyReadonlyArray2<'_, f32>, f: &PyReadonlyArray2<'_, i64>) -> PyResult<RawMesh> {
    if v.shape()[1] != 3 || f.shape()[1] != 3 {
        return Err(PyValueError::new_err(format!(
            "vertices must have shape (n, 3) and faces (m, 3), not {:?} and {:?}",
            v.shape(),
            f.shape()
        )));
    }
    let vertices = v
        .as_array()
        .rows()
        .into_iter()
        .map(|r| [r[0], r[1], r[2]])
        .collect();
    let mut triangles = Vec::with_capacity(f.shape()[0]);
    for (k, r) in f.as_array().rows().into_iter().enumerate() {
        let mut t = [0u32; 3];
        for (slot, &i) in t.iter_mut().zip(r.iter()) {
            *slot = u32::try_from(i).map_err(|_| {
                PyValueError::new_err(format!(
                    "face {k} has vertex index {i}, outside 0..{}",
                    u32::MAX
                ))
            })?;
        }
        triangles.push(t);
    }
    Ok(RawMesh {
        vertices,
        triangles,
    })
}

/// Reads one setting's value, naming the setting when it has the wrong type.
fn value<'py, T>(key: &str, v: &Bound<'py, PyAny>) -> PyResult<T>
where
    T: for<'a> FromPyObject<'a, 'py, Error = PyErr>,
{
    v.extract::<T>().map_err(|e| {
        let py = v.py();
        // Python's conventions: a value of the wrong type is a TypeError, one out of the
        // type's range (a negative count) a ValueError, each naming the keyword.
        if e.is_instance_of::<pyo3::exceptions::PyOverflowError>(py) {
            PyValueError::new_err(format!("{key}: {v} is out of range for this setting"))
        } else if e.is_instance_of::<PyTypeError>(py) {
            PyTypeError::new_err(format!("{key}: {}", e.value(py)))
        } else {
            PyValueError::new_err(format!("{key}: {e}"))
        }
    })
}

/// Reads an optional setting (`None` is the default).
fn optional<'py, T>(key: &str, v: &Bound<'py, PyAny>) -> PyResult<Option<T>>
where
    T: for<'a> FromPyObject<'a, 'py, Error = PyErr>,
{
    if v.is_none() {
        Ok(None)
    } else {
        value(key, v).map(Some)
    }
}

/// Reads a named choice (`align="pca"`) by the name the command line and manifests use.
fn choice<T: serde::de::DeserializeOwned>(
    key: &str,
    v: &Bound<'_, PyAny>,
    names: &str,
) -> PyResult<T> {
    let s: String = value(key, v)?;
    serde_json::from_value(serde_json::Value::String(s.clone())).map_err(|_| {
        PyValueError::new_err(format!("{key}: invalid value {s:?} (expected {names})"))
    })
}

/// Settings that only change the descriptors.
const DESCRIPTOR_KEYS: &[&str] = &[
    "seed",
    "d2_points",
    "d2_pairs",
    "sdf_points",
    "sdf_rays",
    "sh",
    "sh_shells",
    "sh_degrees",
    "sh_points",
    "max_faces",
];
/// Settings that only change the views.
const VIEW_KEYS: &[&str] = &["layout", "res", "up", "align", "channels"];
/// Settings of a whole `features` run beyond those.
const RUN_KEYS: &[&str] = &[
    "views",
    "augment",
    "jobs",
    "fresh",
    "format",
    "shard",
    "shards",
    "checkpoint_every",
];

/// The [`FeatureSettings`] of keyword arguments, each of `allowed` (any other is a `TypeError`,
/// as Python gives for an unexpected keyword); the others keep the command line's defaults.
fn settings(
    func: &str,
    kwargs: Option<&Bound<'_, PyDict>>,
    allowed: &[&[&str]],
) -> PyResult<FeatureSettings> {
    let mut s = FeatureSettings::default();
    let Some(kwargs) = kwargs else {
        return Ok(s);
    };
    for (k, v) in kwargs.iter() {
        let key: String = k.extract()?;
        if !allowed.iter().any(|keys| keys.contains(&key.as_str())) {
            return Err(PyTypeError::new_err(format!(
                "{func}() got an unexpected keyword argument '{key}'"
            )));
        }
        let k = key.as_str();
        match k {
            "seed" => s.seed = value(k, &v)?,
            "d2_points" => s.d2_points = value(k, &v)?,
            "d2_pairs" => s.d2_pairs = optional(k, &v)?,
            "sdf_points" => s.sdf_points = value(k, &v)?,
            "sdf_rays" => s.sdf_rays = value(k, &v)?,
            "sh" => s.sh = value(k, &v)?,
            "sh_shells" => s.sh_shells = optional(k, &v)?,
            "sh_degrees" => s.sh_degrees = optional(k, &v)?,
            "sh_points" => s.sh_points = optional(k, &v)?,
            "max_faces" => s.max_faces = optional(k, &v)?,
            "layout" => s.layout = choice::<ViewLayout>(k, &v, "ring12 or dodecahedron")?,
            "res" => s.view_res = value(k, &v)?,
            "up" => s.up = choice::<UpAxis>(k, &v, "x, y or z")?,
            "align" => s.align = choice::<Align>(k, &v, "none or pca")?,
            "channels" => s.view_channels = optional_choice(k, &v, "depth or depth+shade")?,
            "views" => s.views = value(k, &v)?,
            "augment" => s.view_augment = optional(k, &v)?,
            "jobs" => s.jobs = optional(k, &v)?,
            "fresh" => s.fresh = value(k, &v)?,
            "format" => s.format = choice::<TableFormat>(k, &v, "csv or parquet")?,
            "shard" => {
                s.shard = optional::<String>(k, &v)?
                    .map(|t| shapeclf::shard::Shard::parse(&t))
                    .transpose()
                    .map_err(|e| PyValueError::new_err(format!("shard: {e}")))?
            }
            "shards" => s.shards = optional(k, &v)?,
            "checkpoint_every" => {
                s.checkpoint_every = match optional::<f64>(k, &v)? {
                    None => None,
                    Some(t) => extract::checkpoint_interval(t)
                        .map_err(|e| PyValueError::new_err(format!("{k}: {e}")))?,
                }
            }
            _ => unreachable!("every allowed key is handled"),
        }
    }
    // What the command line refuses as conflicting flags is refused here too, rather than
    // ignored: a setting that takes no effect was not meant.
    let given = |k: &str| {
        kwargs
            .get_item(k)
            .ok()
            .flatten()
            .is_some_and(|v| !v.is_none())
    };
    let conflicts: [(bool, &[&str], &str); 2] = [
        (
            !s.sh,
            &["sh_shells", "sh_degrees", "sh_points"],
            "sh=False (no spherical harmonics)",
        ),
        (!s.views, &["augment"], "views=False (no views)"),
    ];
    for (off, keys, why) in conflicts {
        if let Some(k) = keys.iter().find(|k| off && given(k)) {
            return Err(PyValueError::new_err(format!(
                "{k} has no effect with {why}: leave one of them out"
            )));
        }
    }
    Ok(s)
}

/// Vertices (`float32 [n, 3]`) and triangles (`int64 [m, 3]`).
type MeshArrays<'py> = (Bound<'py, PyArray2<f32>>, Bound<'py, PyArray2<i64>>);

/// Column names, values, and warnings for slow settings.
type DescriptorRow<'py> = (Vec<String>, Bound<'py, PyArray1<f32>>, Vec<String>);

/// Pixels, their shape `[views, channels, res, res]`, and warnings for slow settings.
type RenderedViews<'py> = (Bound<'py, PyArray1<u8>>, [usize; 4], Vec<String>);

/// Class probabilities, or why the mesh could not be classified.
type Classified<'py> = (Option<Bound<'py, PyArray1<f32>>>, Option<String>);

/// Reads a mesh file and returns its vertices (`float32 [n, 3]`) and triangles (`int64 [m, 3]`,
/// polygons fan-triangulated), validated (finite coordinates, indices in range, degenerate
/// triangles dropped); `normalize` also centres, scales and orients it as the descriptors see it.
#[pyfunction]
#[pyo3(signature = (path, normalize = false))]
fn load_mesh<'py>(py: Python<'py>, path: PathBuf, normalize: bool) -> PyResult<MeshArrays<'py>> {
    let mesh = detached(py, || {
        let raw = shapeclf::mesh::load_raw(&path)?;
        let mesh = if normalize {
            shapeclf::mesh::clean(raw)?.0
        } else {
            shapeclf::mesh::Mesh::from_raw(raw)?.0
        };
        Ok::<_, MeshError>(mesh.to_raw())
    })?
    .map_err(|e| mesh_error(&e, &MeshSource::File(path.clone())))?;
    let n = mesh.vertices.len();
    let m = mesh.triangles.len();
    let v: Vec<f32> = mesh.vertices.into_iter().flatten().collect();
    let f: Vec<i64> = mesh
        .triangles
        .into_iter()
        .flatten()
        .map(i64::from)
        .collect();
    Ok((
        PyArray1::from_vec(py, v).reshape([n, 3])?,
        PyArray1::from_vec(py, f).reshape([m, 3])?,
    ))
}

/// A setting out of range as a `ValueError` that names it by its keyword argument (`res`, not
/// the command line's `--view-res`).
fn invalid(e: &shapeclf::setting::InvalidSetting) -> PyErr {
    PyValueError::new_err(e.named(|name| {
        match name {
            "view_res" => "res",
            "view_augment" => "augment",
            other => other,
        }
        .to_string()
    }))
}

/// Validates the descriptor settings of `kwargs`: the settings, and the warnings for slow ones.
fn descriptor_settings(
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<(FeatureSettings, Vec<String>)> {
    let s = settings("descriptors", kwargs, &[DESCRIPTOR_KEYS])?;
    let cfg = s.descriptor_config();
    cfg.validate().map_err(|e| invalid(&e))?;
    Ok((s, cfg.cost_warnings()))
}

/// One mesh's descriptors as `features` computes them under the same settings: the column
/// names, the values (`float32`, the table row) and warnings for slow settings.
#[pyfunction]
#[pyo3(signature = (path, vertices, faces, **kwargs))]
fn descriptors<'py>(
    py: Python<'py>,
    path: Option<PathBuf>,
    vertices: Option<PyReadonlyArray2<'py, f32>>,
    faces: Option<PyReadonlyArray2<'py, i64>>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<DescriptorRow<'py>> {
    let (s, warnings) = descriptor_settings(kwargs)?;
    let source = MeshSource::new(path, vertices, faces)?;
    let cfg = s.descriptor_config();
    let r = detached(py, || match &source {
        MeshSource::File(p) => extract::process_file_with_views(p, &cfg, s.seed, s.max_faces, None),
        MeshSource::Arrays(raw) => {
            extract::process_raw_with_views(raw.clone(), &cfg, s.seed, s.max_faces, None)
        }
    })?
    .map_err(|e| mesh_error(&e, &source))?;
    Ok((
        cfg.columns(),
        PyArray1::from_vec(py, r.descriptors.values),
        warnings,
    ))
}

/// One mesh's views as `features` renders them under the same settings (its view image's
/// pixels): `uint8 [views, channels, res, res]`, and warnings for slow settings.
#[pyfunction]
#[pyo3(signature = (path, vertices, faces, **kwargs))]
fn render_views<'py>(
    py: Python<'py>,
    path: Option<PathBuf>,
    vertices: Option<PyReadonlyArray2<'py, f32>>,
    faces: Option<PyReadonlyArray2<'py, i64>>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<RenderedViews<'py>> {
    let s = settings("render_views", kwargs, &[VIEW_KEYS])?;
    let cfg = s.view_config();
    cfg.validate().map_err(|e| invalid(&e))?;
    let warnings: Vec<String> = cfg.rendering_cost_warning().into_iter().collect();
    let source = MeshSource::new(path, vertices, faces)?;
    let v: Views = detached(py, || match &source {
        MeshSource::File(p) => extract::render_file_views(p, &cfg),
        MeshSource::Arrays(raw) => extract::render_raw_views(raw.clone(), &cfg),
    })?
    .map_err(|e| mesh_error(&e, &source))?;
    let shape = [v.count, v.channels, v.resolution, v.resolution];
    Ok((PyArray1::from_vec(py, v.pixels), shape, warnings))
}

/// The options of a `features` run into `out` under `kwargs`, validated, with the warnings the
/// command line prints before it starts. A shard taken from a job scheduler's variables (a
/// Slurm job array, a Kubernetes Indexed Job) is warned of, since a script run as one task of
/// an array for its own reasons would otherwise see part of its dataset without a word;
/// `shard="none"` computes the whole dataset whatever those variables say.
fn run_options(
    out: &Path,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<(extract::ExtractOptions, Vec<String>)> {
    let whole = match kwargs.map(|k| k.get_item("shard")).transpose()?.flatten() {
        Some(v) => v.extract::<String>().is_ok_and(|t| t == "none"),
        None => false,
    };
    let kwargs = match kwargs {
        Some(k) if whole => {
            let k = k.copy()?;
            k.del_item("shard")?;
            Some(k)
        }
        k => k.cloned(),
    };
    let s = settings(
        "features",
        kwargs.as_ref(),
        &[DESCRIPTOR_KEYS, VIEW_KEYS, RUN_KEYS],
    )?;
    let env = |k: &str| if whole { None } else { std::env::var(k).ok() };
    let (opts, shard) = s
        .extract_options(out, &env)
        .map_err(PyValueError::new_err)?;
    opts.validate().map_err(|e| match e {
        ExtractError::Setting(s) => invalid(&s),
        e => PyValueError::new_err(e.to_string()),
    })?;
    let mut warnings = opts.cost_warnings();
    if let Some((shard, source)) = shard
        && source != shapeclf::shard::ShardSource::Flag
    {
        warnings.push(format!(
            "computing shard {shard} only, {}: this task's part of the dataset, for `shapeclf merge` to join with the others; pass shard=\"none\" for the whole dataset",
            source.describe()
        ));
    }
    Ok((opts, warnings))
}

/// `paths` with each folder replaced by the mesh files in it and below it, sorted, as
/// `shapeclf predict` takes them (`ValueError` for a folder without meshes).
#[pyfunction]
fn expand_mesh_paths(py: Python<'_>, paths: Vec<PathBuf>) -> PyResult<Vec<PathBuf>> {
    // A large tree takes a while to walk: other Python threads run meanwhile.
    detached(py, || shapeclf::mesh::expand_mesh_paths(&paths))?
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))
}

/// Checks a `features` run's settings before it starts: the warnings the command line prints
/// for slow settings (a `ValueError` for invalid ones).
#[pyfunction]
#[pyo3(signature = (out, **kwargs))]
fn check_features(out: PathBuf, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Vec<String>> {
    Ok(run_options(&out, kwargs)?.1)
}

/// What a long Python call hears from its run: the warnings (raised as `UserWarning`s when the
/// call returns), with `verbose` its progress as lines for `sys.stderr`, and whether Ctrl-C
/// asked it to stop.
#[derive(Default)]
struct Hook {
    verbose: bool,
    /// Whether an input the run skips is a warning too (training's rows and views; `features`
    /// lists its failed meshes in the table's `failed` instead).
    skipped_warn: bool,
    stop: Arc<AtomicBool>,
    warnings: std::sync::Mutex<Vec<String>>,
    lines: std::sync::Mutex<Vec<String>>,
    /// When the last epoch line was written, and the epoch line held back since.
    epochs: std::sync::Mutex<(Option<std::time::Instant>, Option<String>)>,
    /// The stage counted in steps (meshes, cross-validation fits), for progress lines.
    stage: std::sync::Mutex<Stage>,
}

/// The mutex's value, also after a panic elsewhere poisoned it (what it guards stays whole).
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A stage's steps so far, and when its last progress line was written.
#[derive(Default)]
struct Stage {
    name: String,
    total: u64,
    done: u64,
    started: Option<std::time::Instant>,
    written: Option<std::time::Instant>,
}

impl Stage {
    fn line(&self) -> String {
        let secs = self.started.map_or(0.0, |t| t.elapsed().as_secs_f64());
        let pct = 100.0 * self.done as f64 / self.total.max(1) as f64;
        format!(
            "{}: {} of {} ({pct:.0}%), {secs:.1} s",
            self.name, self.done, self.total
        )
    }
}

impl shapeclf::observe::Observer for Hook {
    fn event(&self, e: shapeclf::observe::Event<'_>) {
        use shapeclf::observe::Event;
        let line = match e {
            Event::Warning(w) => {
                lock(&self.warnings).push(w.to_string());
                // Raised as warnings once the call returns; said now too when asked to be
                // verbose, since a run may go on for minutes.
                if !self.verbose {
                    return;
                }
                format!("warning: {w}")
            }
            Event::Skipped { path, reason } if self.skipped_warn => {
                lock(&self.warnings).push(format!("skipped {path}: {reason}"));
                return;
            }
            _ if !self.verbose => return,
            Event::Info(m) => m.to_string(),
            Event::Begin { stage, total } => {
                *lock(&self.stage) = Stage {
                    name: stage.to_string(),
                    total,
                    started: Some(std::time::Instant::now()),
                    ..Stage::default()
                };
                return;
            }
            // At most one progress line every two seconds.
            Event::Step => {
                let mut st = lock(&self.stage);
                st.done += 1;
                if st
                    .written
                    .or(st.started)
                    .is_some_and(|t| t.elapsed() < Duration::from_secs(2))
                {
                    return;
                }
                st.written = Some(std::time::Instant::now());
                st.line()
            }
            Event::Epoch(st) => {
                let mut l = format!(
                    "epoch {}: loss {:.4}, train accuracy {:.3}",
                    st.epoch, st.loss, st.train_accuracy
                );
                if let Some(a) = st.val_accuracy {
                    l.push_str(&format!(", validation accuracy {a:.3}"));
                }
                // At most one epoch a second (a logistic regression runs hundreds in one);
                // the last of a run always shows, and `epochs.csv` has every one.
                let mut e = lock(&self.epochs);
                if e.0.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
                    e.1 = Some(l);
                    return;
                }
                *e = (Some(std::time::Instant::now()), None);
                l
            }
            // A stage's end: the epoch line held back, and where its steps ended.
            Event::End => {
                let held = lock(&self.epochs).1.take();
                let st = std::mem::take(&mut *lock(&self.stage));
                let steps = (st.done > 0).then(|| st.line());
                match (held, steps) {
                    (Some(a), Some(b)) => format!("{a}\n{b}"),
                    (Some(l), None) | (None, Some(l)) => l,
                    (None, None) => return,
                }
            }
            _ => return,
        };
        lock(&self.lines).push(line);
    }
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// Runs `job` in a thread of its own while this one, holding the interpreter every 50 ms,
/// writes `hook`'s progress lines to `sys.stderr` and watches for Ctrl-C, which sets
/// `hook.stop` (the run stops as it would on the command line). Returns the job's result (a
/// panic as its payload) and the `KeyboardInterrupt`, if one came.
fn polled<T: Send>(
    py: Python<'_>,
    hook: &Hook,
    job: impl FnOnce() -> T + Send,
) -> (std::thread::Result<T>, Option<PyErr>) {
    // Writes the lines heard so far. A `KeyboardInterrupt` (or another `BaseException`) that
    // Python code behind `sys.stderr` raises, as a notebook's stream may when the signal
    // handler runs inside `write`, is returned: it is the user's Ctrl-C.
    let write_lines = || -> Option<PyErr> {
        let lines = std::mem::take(&mut *lock(&hook.lines));
        if lines.is_empty() {
            return None;
        }
        let err = py.import("sys").and_then(|m| m.getattr("stderr")).ok()?;
        let not_exception = |e: PyErr| (!e.is_instance_of::<PyException>(py)).then_some(e);
        for l in lines {
            if let Err(e) = err.call_method1("write", (format!("{l}\n"),)) {
                return not_exception(e);
            }
        }
        err.call_method0("flush").err().and_then(not_exception)
    };
    let mut interrupted = None;
    let result = std::thread::scope(|scope| {
        let job = scope.spawn(|| catch_unwind(AssertUnwindSafe(job)));
        while !job.is_finished() {
            py.detach(|| std::thread::sleep(Duration::from_millis(50)));
            let heard = py.check_signals().err().or_else(write_lines);
            if let Some(e) = heard
                && interrupted.is_none()
            {
                hook.stop.store(true, Ordering::SeqCst);
                interrupted = Some(e);
            }
        }
        job.join()
    });
    if let Some(e) = write_lines()
        && interrupted.is_none()
    {
        interrupted = Some(e);
    }
    let result = match result {
        Ok(r) => r,
        Err(p) => Err(p),
    };
    (result, interrupted)
}

/// Runs `shapeclf features ROOT --out OUT` with the same settings, as a library call: writes
/// the feature folder and returns its table as a dict of columns (`columns`, `path`, `class`,
/// `split`, `values` as `float32 [rows, columns]`), the meshes that failed (`failed`: (path,
/// reason) pairs), the table file written (`table`) and the run's warnings (`warnings`). Ctrl-C
/// stops it as it stops the command line: the meshes in hand finish, what is done is written
/// (unless the rows of an earlier run were not all checked yet: then nothing is), then
/// `KeyboardInterrupt`. With `verbose`, how many meshes are done and the warnings go to
/// `sys.stderr` as they come.
#[pyfunction]
#[pyo3(signature = (root, out, verbose = false, **kwargs))]
fn features<'py>(
    py: Python<'py>,
    root: PathBuf,
    out: PathBuf,
    verbose: bool,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    let (mut opts, _) = run_options(&out, kwargs)?;
    let heard = Hook {
        verbose,
        ..Hook::default()
    };
    opts.stop = Some(heard.stop.clone());
    let (result, interrupted) = polled(py, &heard, || extract::run(&root, &out, &opts, &heard));
    // A run that ends in an error or an interrupt returns no dict to carry its warnings
    // (files the layout does not read, copies across splits...): they are raised here, before
    // the exception, so the caller hears why as much as a finished run would say.
    let warn_heard = |heard: Hook| warn_all(py, heard.warnings.into_inner().unwrap_or_default());
    let ex = match result {
        Ok(r) => match (r, interrupted) {
            (Ok(ex), None) => ex,
            // Stopped by Ctrl-C, whether or not a mesh had finished (with none, nothing is
            // written and the run's error says so): the caller sees `KeyboardInterrupt`.
            (_, Some(e)) => {
                warn_heard(heard)?;
                return Err(e);
            }
            (Err(e), None) => {
                warn_heard(heard)?;
                return Err(py_error(&e, None));
            }
        },
        Err(p) => {
            warn_heard(heard)?;
            return Err(ShapeclfError::new_err(extract::panic_error(p.as_ref())));
        }
    };
    let table = &ex.table;
    let (rows, cols) = (table.rows.len(), table.columns.len());
    let mut values = Vec::with_capacity(rows * cols);
    for r in &table.rows {
        values.extend_from_slice(&r.values);
    }
    let d = PyDict::new(py);
    d.set_item("warnings", heard.warnings.into_inner().unwrap_or_default())?;
    d.set_item("shard", opts.shard.map(|s| s.to_string()))?;
    d.set_item("columns", &table.columns)?;
    d.set_item(
        "path",
        table
            .rows
            .iter()
            .map(|r| r.path.as_str())
            .collect::<Vec<_>>(),
    )?;
    d.set_item(
        "class",
        table
            .rows
            .iter()
            .map(|r| r.class.as_str())
            .collect::<Vec<_>>(),
    )?;
    d.set_item(
        "split",
        table
            .rows
            .iter()
            .map(|r| r.split.as_str())
            .collect::<Vec<_>>(),
    )?;
    d.set_item(
        "values",
        PyArray1::from_vec(py, values).reshape([rows, cols])?,
    )?;
    let failed: Vec<(String, String)> = ex
        .manifest
        .failed
        .iter()
        .map(|f| (f.path.clone(), f.error.clone()))
        .collect();
    d.set_item("failed", failed)?;
    d.set_item("table", out.join(ex.manifest.files().table))?;
    Ok(d)
}

/// The keyword arguments of `train`, each the `train` flag of that name.
const TRAIN_KEYS: &[&str] = &[
    "backend",
    "seed",
    "epochs",
    "lr",
    "batch_size",
    "weight_decay",
    "optimizer",
    "hidden",
    "activation",
    "dropout",
    "val_fraction",
    "patience",
    "positive",
    "class_weight",
    "channels",
    "schedule",
    "views_in_memory",
    "repeats",
    "resume",
    "histograms",
    "branch_dropout",
    "flip",
    "jitter",
    "train_views",
];

/// Reads an optional named choice (`None` is the default).
fn optional_choice<T: serde::de::DeserializeOwned>(
    key: &str,
    v: &Bound<'_, PyAny>,
    names: &str,
) -> PyResult<Option<T>> {
    if v.is_none() {
        Ok(None)
    } else {
        choice(key, v, names).map(Some)
    }
}

/// Reads widths: one integer or a sequence of them (`hidden=[256, 128]`, `channels=(8, 16)`).
fn widths(key: &str, v: &Bound<'_, PyAny>) -> PyResult<Option<Vec<usize>>> {
    if v.is_none() {
        return Ok(None);
    }
    if v.is_instance_of::<pyo3::types::PyString>() || v.is_instance_of::<pyo3::types::PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "{key}: expected an integer or a list of them, not {}",
            v.get_type().name()?
        )));
    }
    if let Ok(w) = v.extract::<usize>() {
        return Ok(Some(vec![w]));
    }
    value::<Vec<usize>>(key, v).map(Some)
}

/// The [`TrainSettings`] of `train(..., model=MODEL, **kwargs)`: each keyword the `train` flag
/// of that name (`flip=False` is `--no-flip`); any other keyword is a `TypeError`.
fn train_settings(
    model: &Bound<'_, PyAny>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<TrainSettings> {
    let kind: ModelKind = choice("model", model, "logistic, mlp, cnn or fusion")?;
    let mut s = TrainSettings::new(kind);
    let Some(kwargs) = kwargs else {
        return Ok(s);
    };
    for (k, v) in kwargs.iter() {
        let key: String = k.extract()?;
        if !TRAIN_KEYS.contains(&key.as_str()) {
            return Err(PyTypeError::new_err(format!(
                "train() got an unexpected keyword argument '{key}'"
            )));
        }
        let k = key.as_str();
        match k {
            "backend" => s.backend = choice(k, &v, "cpu or gpu")?,
            "seed" => s.seed = value(k, &v)?,
            "epochs" => s.epochs = optional(k, &v)?,
            "lr" => s.lr = optional(k, &v)?,
            "batch_size" => s.batch_size = optional(k, &v)?,
            "weight_decay" => s.weight_decay = optional(k, &v)?,
            "optimizer" => s.optimizer = optional_choice(k, &v, "sgd, momentum or adam")?,
            "hidden" => s.hidden = widths(k, &v)?,
            "activation" => s.activation = optional_choice(k, &v, "relu or leaky-relu")?,
            "dropout" => s.dropout = optional(k, &v)?,
            "val_fraction" => s.val_fraction = optional(k, &v)?,
            "patience" => s.patience = optional(k, &v)?,
            "positive" => s.positive = optional(k, &v)?,
            "class_weight" => s.class_weight = optional_choice(k, &v, "none or balanced")?,
            "channels" => s.channels = widths(k, &v)?,
            "schedule" => s.schedule = optional_choice(k, &v, "constant or cosine")?,
            "views_in_memory" => s.views_in_memory = value(k, &v)?,
            "repeats" => s.repeats = value(k, &v)?,
            "resume" => s.resume = value(k, &v)?,
            "histograms" => s.histograms = optional_choice(k, &v, "none or sqrt")?,
            "branch_dropout" => s.branch_dropout = optional(k, &v)?,
            "flip" => s.flip = value(k, &v)?,
            "jitter" => s.jitter = optional(k, &v)?,
            "train_views" => s.train_views = optional(k, &v)?,
            _ => unreachable!("every allowed key is handled"),
        }
    }
    Ok(s)
}

/// The run `train(..., model=MODEL, **kwargs)` asks for, validated, and the settings it gives
/// that the model does not use, as warnings.
fn train_config(
    model: &Bound<'_, PyAny>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<(shapeclf::train::TrainConfig, Vec<String>)> {
    let settings = train_settings(model, kwargs)?;
    let cfg = settings.config();
    cfg.validate().map_err(|e| invalid(&e))?;
    // A package built for the CPU says so in its own terms, not the command line's rebuild
    // instructions.
    if let Err(shapeclf::models::DeviceError::NoGpuSupport) = cfg.backend.device() {
        return Err(PyValueError::new_err(
            "backend=\"gpu\": this Python package was built without GPU support; reinstall it with `pip install ./python --config-settings=build-args=\"--features wgpu\"` (docs/GPU.md says which GPUs), or train with backend=\"cpu\"",
        ));
    }
    let unused = settings.unused(|n| match n {
        "no_flip" => "flip=False".to_string(),
        other => other.to_string(),
    });
    Ok((cfg, unused))
}

/// Checks a `train` run's settings before it starts: the warnings for settings the model does
/// not use (a `ValueError` for invalid ones, a `TypeError` for unknown keywords).
#[pyfunction]
#[pyo3(signature = (model, **kwargs))]
fn check_train(
    model: &Bound<'_, PyAny>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<Vec<String>> {
    Ok(train_config(model, kwargs)?.1)
}

/// Raises each of `warnings` as a `UserWarning`; a warning the filters turn into an error is
/// dropped (the caller's own error or result is the one to see), anything else raised while
/// showing them (a second Ctrl-C) is returned.
fn warn_all(py: Python<'_>, warnings: Vec<String>) -> PyResult<()> {
    let category = py.get_type::<pyo3::exceptions::PyUserWarning>();
    for w in warnings {
        if let Ok(msg) = std::ffi::CString::new(w.replace('\0', " "))
            && let Err(e) = PyErr::warn(py, &category, &msg, 2)
            && !e.is_instance_of::<pyo3::exceptions::PyWarning>(py)
        {
            return Err(e);
        }
    }
    Ok(())
}

/// Runs `shapeclf train --model MODEL --features FEATURES --out OUT` with the same settings,
/// as a library call: writes the model folder (whose `report.json` the Python half reads with
/// the model) and returns the run's warnings ([`check_train`] gives those of the settings).
/// With `verbose`, each epoch's numbers and the run's notes go to `sys.stderr` as they come.
/// Ctrl-C stops training after the batch in hand, keeps its last
/// checkpoint (`resume=True` continues from it, also in this process) and raises
/// `KeyboardInterrupt`; no model folder is written.
#[pyfunction]
#[pyo3(signature = (features, out, model, verbose = false, **kwargs))]
fn train(
    py: Python<'_>,
    features: PathBuf,
    out: PathBuf,
    model: &Bound<'_, PyAny>,
    verbose: bool,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<Vec<String>> {
    let (cfg, _) = train_config(model, kwargs)?;
    let hook = Hook {
        verbose,
        skipped_warn: true,
        ..Hook::default()
    };
    // On this process's own worker pool, as `detached` calls run (`features` makes a pool of
    // its own).
    let (result, interrupted) = polled(py, &hook, || {
        shapeclf::pool::install(|| shapeclf::workflow::train_model(&features, &out, &cfg, &hook))
    });
    let warnings = std::mem::take(&mut *lock(&hook.warnings));
    match result {
        Ok(r) => match (r, interrupted) {
            (Ok(_), None) => Ok(warnings),
            (_, Some(e)) => {
                warn_all(py, warnings)?;
                Err(e)
            }
            (Err(e), None) => {
                warn_all(py, warnings)?;
                Err(py_error(&e, None))
            }
        },
        Err(p) => {
            warn_all(py, warnings)?;
            Err(ShapeclfError::new_err(extract::panic_error(p.as_ref())))
        }
    }
}

/// Runs `shapeclf compare --models MODELS`: writes `comparison.md`, `comparison.png` and
/// `comparison.html` there and returns the rows (as JSON text) and the folders left out with
/// why.
#[pyfunction]
fn compare(py: Python<'_>, models: PathBuf) -> PyResult<(String, Vec<(String, String)>)> {
    let cmp = detached(py, || {
        shapeclf::workflow::compare(&models, &shapeclf::observe::Silent)
    })?
    .map_err(|e| py_error(&e, None))?;
    let rows =
        serde_json::to_string(&cmp.rows).map_err(|e| ShapeclfError::new_err(e.to_string()))?;
    Ok((rows, cmp.skipped))
}

/// Runs `shapeclf synth DIR`: writes a labelled dataset of procedurally modelled shapes under
/// `dir/<class>/{train,test}/` (`dir` new or empty) and returns the files written.
#[pyfunction]
#[pyo3(signature = (dir, per_class, seed, subdivide, formats, realistic))]
fn synth(
    py: Python<'_>,
    dir: PathBuf,
    per_class: usize,
    seed: u64,
    subdivide: u32,
    formats: Vec<String>,
    realistic: bool,
) -> PyResult<Vec<PathBuf>> {
    shapeclf::synth::check_size(per_class, subdivide).map_err(PyValueError::new_err)?;
    let opts = shapeclf::synth::SynthOptions {
        per_class,
        seed,
        levels: subdivide,
        formats,
        realistic,
    };
    detached(py, || shapeclf::synth::write_dataset_with(&dir, &opts))?.map_err(|e| {
        let msg = format!("writing synthetic dataset to {}: {e}", dir.display());
        if e.kind() == std::io::ErrorKind::InvalidInput {
            PyValueError::new_err(msg)
        } else {
            ShapeclfError::new_err(msg)
        }
    })
}

/// Runs `shapeclf export MODEL_DIR --onnx OUT`: writes the model as an ONNX file (atomically)
/// and returns what it holds (model kind, inputs and their shapes, classes, opset, size) as
/// JSON text.
#[pyfunction]
fn export_onnx(py: Python<'_>, model_dir: PathBuf, out: PathBuf) -> PyResult<String> {
    let summary = detached(py, || shapeclf::export::export_onnx(&model_dir, &out))?
        .map_err(|e| py_error(&e, None))?;
    serde_json::to_string(&summary).map_err(|e| ShapeclfError::new_err(e.to_string()))
}

/// A trained model folder loaded once (the Python `shapeclf.Model` wraps it).
#[pyclass(module = "shapeclf._shapeclf", frozen)]
struct NativeModel {
    model: inference::Model,
}

#[pymethods]
impl NativeModel {
    /// Loads the model folder `dir` written by `shapeclf train`.
    #[staticmethod]
    fn load(py: Python<'_>, dir: PathBuf) -> PyResult<NativeModel> {
        let model =
            detached(py, || inference::Model::load(&dir))?.map_err(|e| py_error(&e, None))?;
        Ok(NativeModel { model })
    }

    /// Class names, in the order of the probabilities.
    #[getter]
    fn classes(&self) -> Vec<String> {
        self.model.classes().to_vec()
    }

    /// The probabilities of every class for one mesh (a path, or vertex and face arrays) and
    /// `None`, or `None` and why it could not be classified (as `predict --json` reports it).
    #[pyo3(signature = (path, vertices, faces))]
    fn probabilities<'py>(
        &self,
        py: Python<'py>,
        path: Option<PathBuf>,
        vertices: Option<PyReadonlyArray2<'py, f32>>,
        faces: Option<PyReadonlyArray2<'py, i64>>,
    ) -> PyResult<Classified<'py>> {
        let source = MeshSource::new(path, vertices, faces)?;
        let p = detached(py, || match source {
            MeshSource::File(p) => self.model.probabilities_of_file(&p),
            MeshSource::Arrays(raw) => self.model.probabilities_of_mesh(raw),
        })?;
        Ok(match p {
            Ok(p) => (Some(PyArray1::from_vec(py, p)), None),
            Err(e) => (None, Some(e)),
        })
    }

    /// The `top` most probable classes of `probs` (at least one), most probable first, as
    /// `predict` ranks them.
    fn ranked(&self, probs: Vec<f32>, top: usize) -> Vec<(String, f32)> {
        self.model.ranked(&probs, top)
    }
}

/// The native module `shapeclf._shapeclf`.
#[pymodule]
fn _shapeclf(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("ShapeclfError", m.py().get_type::<ShapeclfError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("BUILD_ID", shapeclf::BUILD_ID)?;
    // Whether `train(..., backend="gpu")` can run: the package built with `--features wgpu`.
    m.add("GPU", cfg!(feature = "wgpu"))?;
    // The files loading a model folder reads: what a pickled `Model` carries.
    m.add(
        "MODEL_FILES",
        [
            shapeclf::model_dir::CONFIG_FILE,
            shapeclf::model_dir::CLASSES_FILE,
            shapeclf::model_dir::MANIFEST_FILE,
            shapeclf::model_dir::WEIGHTS_FILE,
            shapeclf::model_dir::NORMALIZATION_FILE,
        ]
        .to_vec(),
    )?;
    m.add_function(wrap_pyfunction!(load_mesh, m)?)?;
    m.add_function(wrap_pyfunction!(descriptors, m)?)?;
    m.add_function(wrap_pyfunction!(render_views, m)?)?;
    m.add_function(wrap_pyfunction!(check_features, m)?)?;
    m.add_function(wrap_pyfunction!(expand_mesh_paths, m)?)?;
    m.add_function(wrap_pyfunction!(features, m)?)?;
    m.add_function(wrap_pyfunction!(check_train, m)?)?;
    m.add_function(wrap_pyfunction!(train, m)?)?;
    m.add_function(wrap_pyfunction!(compare, m)?)?;
    m.add_function(wrap_pyfunction!(export_onnx, m)?)?;
    m.add_function(wrap_pyfunction!(synth, m)?)?;
    m.add_class::<NativeModel>()?;
    Ok(())
}
