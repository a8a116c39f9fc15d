//! Reading the geometry of the document's primitives out of the buffers, every range checked
//! before anything is allocated.

use super::*;

/// Where an accessor's elements lie: buffer, first byte, distance between elements, count.
#[derive(Clone, Copy)]
pub(super) struct Slab {
    buffer: usize,
    start: usize,
    stride: usize,
    count: usize,
    kind: DataType,
}

/// One triangle primitive, its accessors checked against the buffers.
#[derive(Clone, Copy)]
pub(super) struct Prim {
    positions: Slab,
    indices: Option<Slab>,
    mode: Mode,
    triangles: usize,
}

impl Prim {
    /// Bytes this primitive adds to the merged mesh (12 per vertex and per triangle), plus a
    /// fixed cost so that even empty instances count against the budget.
    fn cost(&self) -> u64 {
        12 * (self.positions.count as u64 + self.triangles as u64) + 64
    }
}

pub(super) struct Reader<'a> {
    pub(super) doc: &'a Document,
    pub(super) bin: Option<&'a [u8]>,
    pub(super) dir: Option<&'a Path>,
    /// Buffer bytes, loaded when an accessor first needs them.
    pub(super) buffers: Vec<Option<Cow<'a, [u8]>>>,
    /// External files read, by their path relative to the file's folder, with the buffer that
    /// holds their bytes: buffers naming one file share one copy of it.
    pub(super) external: Vec<(PathBuf, usize)>,
    /// Bytes of the file and of the external buffers read.
    pub(super) input_bytes: u64,
}

/// What walking the scene found.
#[derive(Default)]
pub(super) struct Totals {
    vertices: u64,
    triangles: u64,
    cost: u64,
    skipped: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn read(&mut self) -> Result<RawMesh, MeshError> {
        // Each mesh's primitives, checked once however many nodes use the mesh.
        let mut plans: Vec<Option<Vec<Option<Prim>>>> = vec![None; self.doc.meshes().len()];
        let mut totals = Totals::default();
        self.walk(&mut |this: &mut Self, mesh, _world| {
            if plans[mesh].is_none() {
                plans[mesh] = Some(this.plan(mesh)?);
            }
            for p in plans[mesh].as_deref().unwrap_or_default() {
                match p {
                    Some(p) => {
                        totals.vertices += p.positions.count as u64;
                        totals.triangles += p.triangles as u64;
                        totals.cost += p.cost();
                    }
                    None => {
                        totals.skipped += 1;
                        totals.cost += 64;
                    }
                }
            }
            // Checked as the walk goes, so a lying scene stops early, not after a long count.
            let budget = BYTES_PER_INPUT_BYTE * this.input_bytes + 64 * 1024;
            if totals.cost > budget {
                return Err(err(format!(
                    "the scene places more geometry than the file holds: over {} bytes of mesh \
                     from {} bytes of input (at most {BYTES_PER_INPUT_BYTE} per byte; \
                     a mesh instanced by very many nodes?)",
                    totals.cost, this.input_bytes
                )));
            }
            Ok(())
        })?;
        if totals.triangles == 0 {
            return Err(err(if totals.skipped > 0 {
                format!(
                    "no triangle primitives ({} point/line primitives skipped)",
                    totals.skipped
                )
            } else {
                "no triangle primitives in the scene".to_string()
            }));
        }
        if totals.vertices > u64::from(u32::MAX) {
            return Err(err(format!("{} vertices, more than 2^32", totals.vertices)));
        }
        let mut out = RawMesh {
            vertices: Vec::with_capacity(totals.vertices as usize),
            triangles: Vec::with_capacity(totals.triangles as usize),
        };
        self.walk(&mut |this: &mut Self, mesh, world| {
            for (k, p) in plans[mesh]
                .as_deref()
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                if let Some(p) = p {
                    this.emit(p, world, &mut out)
                        .map_err(|e| err(format!("mesh {mesh} primitive {k}: {e}")))?;
                }
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// A mesh's primitives: `None` for points and lines, which are skipped.
    fn plan(&mut self, mesh: usize) -> Result<Vec<Option<Prim>>, MeshError> {
        let doc = self.doc;
        let m = doc.meshes().nth(mesh).expect("validated mesh index");
        m.primitives()
            .map(|p| {
                let k = p.index();
                let mode = p.mode();
                if !matches!(
                    mode,
                    Mode::Triangles | Mode::TriangleStrip | Mode::TriangleFan
                ) {
                    return Ok(None);
                }
                let at = |e: MeshError| err(format!("mesh {mesh} primitive {k}: {}", strip(e)));
                let pos = p.get(&Semantic::Positions).ok_or_else(|| {
                    err(format!(
                        "mesh {mesh} primitive {k} has no POSITION attribute"
                    ))
                })?;
                if pos.data_type() != DataType::F32
                    || pos.dimensions() != Dimensions::Vec3
                    || pos.normalized()
                {
                    return Err(err(format!(
                        "mesh {mesh} primitive {k}: POSITION accessor {} is {:?} {:?}{}; \
                         positions must be float VEC3 (quantized positions are not supported)",
                        pos.index(),
                        pos.dimensions(),
                        pos.data_type(),
                        if pos.normalized() { " normalized" } else { "" }
                    )));
                }
                let positions = self.slab(&pos, "POSITION").map_err(at)?;
                let indices = match p.indices() {
                    None => None,
                    Some(i) => {
                        if !matches!(i.data_type(), DataType::U8 | DataType::U16 | DataType::U32)
                            || i.dimensions() != Dimensions::Scalar
                        {
                            return Err(err(format!(
                                "mesh {mesh} primitive {k}: indices accessor {} is {:?} {:?}; \
                                 indices must be unsigned integer SCALAR",
                                i.index(),
                                i.dimensions(),
                                i.data_type()
                            )));
                        }
                        Some(self.slab(&i, "indices").map_err(at)?)
                    }
                };
                let n = indices.map_or(positions.count, |s| s.count);
                let triangles = match mode {
                    Mode::Triangles => n / 3,
                    _ => n.saturating_sub(2),
                };
                Ok(Some(Prim {
                    positions,
                    indices,
                    mode,
                    triangles,
                }))
            })
            .collect()
    }

    /// Locates an accessor's elements, checking them against its bufferView and the bufferView
    /// against its buffer: nothing the file merely claims is ever allocated.
    fn slab(&mut self, acc: &Accessor, what: &str) -> Result<Slab, MeshError> {
        let a = acc.index();
        if acc.sparse().is_some() {
            return Err(err(format!(
                "{what} accessor {a} is sparse; sparse accessors are not supported"
            )));
        }
        let Some(view) = acc.view() else {
            return Err(err(format!("{what} accessor {a} has no bufferView")));
        };
        let elem = acc.size();
        let stride = view.stride().unwrap_or(elem);
        if stride < elem {
            return Err(err(format!(
                "bufferView {} has a stride of {stride} bytes, less than the {elem}-byte elements of {what} accessor {a}",
                view.index()
            )));
        }
        let buffer = view.buffer();
        let b = buffer.index();
        let declared = buffer.length();
        let (vo, vl) = (view.offset(), view.length());
        if vo as u128 + vl as u128 > declared as u128 {
            return Err(err(format!(
                "bufferView {} (bytes {vo}..{}) runs past the end of buffer {b} ({declared} bytes)",
                view.index(),
                vo as u128 + vl as u128
            )));
        }
        let count = acc.count();
        // An empty accessor needs no bytes, but its offset must still lie within the view.
        let span = match count {
            0 => 0,
            n => (n as u128 - 1) * stride as u128 + elem as u128,
        };
        let need = acc.offset() as u128 + span;
        if need > vl as u128 {
            return Err(err(format!(
                "{what} accessor {a} claims {count} elements of {elem} bytes (stride {stride}) \
                 from byte {}, {need} bytes: more than its bufferView {} holds ({vl} bytes)",
                acc.offset(),
                view.index()
            )));
        }
        // Only now, with the claim within what the file declares, are the bytes looked at.
        let b = self.load_buffer(b, declared)?;
        Ok(Slab {
            buffer: b,
            start: vo + acc.offset(),
            stride,
            count,
            kind: acc.data_type(),
        })
    }

    /// Makes buffer `b`'s bytes available, checking that it holds the `declared` length, and
    /// returns the index of the buffer holding them (another one's, when both name one file).
    fn load_buffer(&mut self, b: usize, declared: usize) -> Result<usize, MeshError> {
        if let Some(data) = &self.buffers[b] {
            return if data.len() < declared {
                Err(err(format!(
                    "buffer {b} declares {declared} bytes but holds {} (truncated)",
                    data.len()
                )))
            } else {
                Ok(b)
            };
        }
        let buffer = self.doc.buffers().nth(b).expect("validated buffer index");
        let (data, whence): (Cow<'a, [u8]>, String) = match buffer.source() {
            Source::Bin => {
                let bin = self.bin.filter(|_| b == 0).ok_or_else(|| {
                    err(format!(
                        "buffer {b} has no uri and the file has no GLB binary chunk for it"
                    ))
                })?;
                (Cow::Borrowed(bin), "the GLB binary chunk".to_string())
            }
            Source::Uri(uri) if uri.starts_with("data:") => (
                Cow::Owned(decode_data_uri(uri).map_err(|e| err(format!("buffer {b}: {e}")))?),
                "its data URI".to_string(),
            ),
            Source::Uri(uri) => {
                // Quoted in errors, clipped: a file may hold a megabyte in one uri.
                let shown = crate::text::ellipsize(uri, 200);
                let rel = relative_path(uri)
                    .map_err(|why| err(format!("buffer {b}: external uri {shown:?} {why}")))?;
                let dir = self.dir.ok_or_else(|| {
                    err(format!(
                        "buffer {b}: external buffer {shown:?} cannot be read without the file's folder"
                    ))
                })?;
                if let Some(&(_, held)) = self.external.iter().find(|(p, _)| *p == rel) {
                    let have = self.buffers[held].as_deref().map_or(0, <[u8]>::len);
                    if have < declared {
                        return Err(err(format!(
                            "buffer {b} declares {declared} bytes but file {shown:?} holds {have} (truncated)"
                        )));
                    }
                    return Ok(held);
                }
                let path = dir.join(&rel);
                // Every external file counts against the one limit a mesh file has, checked
                // before it is read: a small document naming many large files is refused.
                let size = std::fs::metadata(&path).map_or(0, |m| m.len());
                if self.input_bytes.saturating_add(size) > super::super::MAX_FILE_BYTES {
                    return Err(err(format!(
                        "buffer {b}: external buffer {shown:?} would bring the bytes read for this mesh past {} GiB",
                        super::super::MAX_FILE_BYTES >> 30
                    )));
                }
                let bytes = super::super::read_file(&path).map_err(|e| {
                    err(format!(
                        "buffer {b}: external buffer {shown:?} ({}): {e}",
                        match &e {
                            MeshError::Io(io) if io.kind() == std::io::ErrorKind::NotFound =>
                                "missing",
                            _ => "unreadable",
                        }
                    ))
                })?;
                self.input_bytes += bytes.len() as u64;
                self.external.push((rel, b));
                (Cow::Owned(bytes), format!("file {shown:?}"))
            }
        };
        if data.len() < declared {
            return Err(err(format!(
                "buffer {b} declares {declared} bytes but {whence} holds {} (truncated)",
                data.len()
            )));
        }
        self.buffers[b] = Some(data);
        Ok(b)
    }

    /// Appends one placed instance of a primitive to `out`.
    fn emit(&self, p: &Prim, world: &Mat, out: &mut RawMesh) -> Result<(), String> {
        let base = out.vertices.len() as u32;
        let pos = p.positions;
        let data = self.buffers[pos.buffer].as_deref().expect("loaded by slab");
        let m = world;
        let identity = *m == IDENTITY;
        for i in 0..pos.count {
            let at = pos.start + i * pos.stride;
            let c = |k: usize| {
                let o = at + 4 * k;
                f64::from(f32::from_le_bytes([
                    data[o],
                    data[o + 1],
                    data[o + 2],
                    data[o + 3],
                ]))
            };
            let (x, y, z) = (c(0), c(1), c(2));
            out.vertices.push(if identity {
                // As in the file, bit for bit (a NaN stays in its own coordinate).
                [x as f32, y as f32, z as f32]
            } else {
                [0, 1, 2].map(|r| (m[r] * x + m[4 + r] * y + m[8 + r] * z + m[12 + r]) as f32)
            });
        }
        let nv = pos.count;
        let index = |k: usize| -> Result<u32, String> {
            let v = match p.indices {
                None => k,
                Some(s) => {
                    let d = self.buffers[s.buffer].as_deref().expect("loaded by slab");
                    let o = s.start + k * s.stride;
                    match s.kind {
                        DataType::U8 => usize::from(d[o]),
                        DataType::U16 => usize::from(u16::from_le_bytes([d[o], d[o + 1]])),
                        _ => u32::from_le_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]]) as usize,
                    }
                }
            };
            if v >= nv {
                return Err(format!(
                    "element {k} of its indices references vertex {v}, outside its {nv} \
                     POSITION vertices"
                ));
            }
            Ok(base + v as u32)
        };
        // A mirroring transform turns the winding over; turn it back.
        let flip = det3(m) < 0.0;
        for t in 0..p.triangles {
            let [a, b, c] = match p.mode {
                Mode::Triangles => [3 * t, 3 * t + 1, 3 * t + 2],
                Mode::TriangleStrip if t % 2 == 0 => [t, t + 1, t + 2],
                Mode::TriangleStrip => [t + 1, t, t + 2],
                _ => [t + 1, t + 2, 0],
            };
            let (a, b, c) = (index(a)?, index(b)?, index(c)?);
            out.triangles.push(if flip { [a, c, b] } else { [a, b, c] });
        }
        Ok(())
    }
}
