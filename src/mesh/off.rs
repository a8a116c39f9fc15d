//! Object File Format, as written by ModelNet and Geomview.
//!
//! Accepts comments (`#`), blank lines, polygons of any size (fan-triangulated), colour or normal
//! columns after the coordinates (`COFF`, `NOFF`), and ModelNet's header glued to its counts
//! (`OFF490 518 0`).

use super::{MeshError, RawMesh, check_claim};

const F: &str = "OFF";

/// Lines with comments removed and blanks skipped, numbered from 1.
fn significant_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().filter_map(|(i, line)| {
        let line = match line.find('#') {
            Some(k) => &line[..k],
            None => line,
        };
        let line = line.trim();
        (!line.is_empty()).then_some((i + 1, line))
    })
}

pub(super) fn parse(bytes: &[u8]) -> Result<RawMesh, MeshError> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines = significant_lines(&text);
    let (hline, header) = lines
        .next()
        .ok_or_else(|| MeshError::parse(F, "no header line"))?;
    let keyword_end = header
        .find("OFF")
        .filter(|&k| header[..k].bytes().all(|b| b"CNST".contains(&b)))
        .map(|k| k + 3)
        .ok_or_else(|| {
            MeshError::parse(
                F,
                format!(
                    "line {hline}: expected an OFF header, found {:?}",
                    clip(header)
                ),
            )
        })?;
    let rest = header[keyword_end..].trim();
    let (cline, counts) = if rest.is_empty() {
        lines
            .next()
            .ok_or_else(|| MeshError::parse(F, "missing vertex and face counts"))?
    } else {
        (hline, rest)
    };
    let nums: Vec<&str> = counts.split_ascii_whitespace().take(3).collect();
    if nums.len() < 2 {
        return Err(MeshError::parse(
            F,
            format!(
                "line {cline}: expected vertex and face counts, found {:?}",
                clip(counts)
            ),
        ));
    }
    let count = |s: &str, what: &str| {
        s.parse::<u64>().map_err(|_| {
            MeshError::parse(
                F,
                format!("line {cline}: {what} count {:?} is not a number", clip(s)),
            )
        })
    };
    let nv = count(nums[0], "vertex")?;
    let nf = count(nums[1], "face")?;
    // A vertex line holds at least "0 0 0" and a face line "3 0 1 2": bound the claim by the file.
    check_claim(
        F,
        u128::from(nv) * 5 + u128::from(nf) * 7,
        bytes.len(),
        || format!("{nv} vertices and {nf} faces"),
    )?;
    let (nv, nf) = (nv as usize, nf as usize);

    let mut mesh = RawMesh {
        vertices: Vec::with_capacity(nv),
        triangles: Vec::with_capacity(nf),
    };
    for k in 0..nv {
        let (ln, line) = lines.next().ok_or_else(|| {
            MeshError::parse(
                F,
                format!("truncated: header claims {nv} vertices, file has {k}"),
            )
        })?;
        let mut it = line.split_ascii_whitespace();
        let mut v = [0f32; 3];
        for c in &mut v {
            let tok = it.next().ok_or_else(|| {
                MeshError::parse(
                    F,
                    format!("line {ln}: vertex {k} has fewer than 3 coordinates"),
                )
            })?;
            *c = tok.parse().map_err(|_| {
                MeshError::parse(
                    F,
                    format!("line {ln}: vertex {k}: {:?} is not a number", clip(tok)),
                )
            })?;
        }
        mesh.vertices.push(v);
    }
    let mut poly: Vec<u32> = Vec::new();
    for k in 0..nf {
        let (ln, line) = lines.next().ok_or_else(|| {
            MeshError::parse(
                F,
                format!("truncated: header claims {nf} faces, file has {k}"),
            )
        })?;
        let mut it = line.split_ascii_whitespace();
        let n: usize = it.next().and_then(|t| t.parse().ok()).ok_or_else(|| {
            MeshError::parse(
                F,
                format!("line {ln}: face {k} does not start with a vertex count"),
            )
        })?;
        poly.clear();
        for tok in it.by_ref().take(n) {
            let i: i64 = tok.parse().map_err(|_| {
                MeshError::parse(
                    F,
                    format!("line {ln}: face {k}: {:?} is not an index", clip(tok)),
                )
            })?;
            if i < 0 || i as u64 >= nv as u64 {
                return Err(MeshError::parse(
                    F,
                    format!("line {ln}: face {k} references vertex {i}, outside 0..{nv}"),
                ));
            }
            poly.push(i as u32);
        }
        if poly.len() < n {
            return Err(MeshError::parse(
                F,
                format!(
                    "line {ln}: face {k} claims {n} vertices but lists {}",
                    poly.len()
                ),
            ));
        }
        mesh.push_polygon(&poly);
    }
    Ok(mesh)
}

/// The start of a token or line, short enough for an error message.
fn clip(s: &str) -> String {
    let mut end = s.len().min(40);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    if end < s.len() {
        format!("{}...", &s[..end])
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_glued_headers_agree() {
        let plain = "OFF\n4 2 0\n0 0 0\n1 0 0\n1 1 0\n0 1 0\n4 0 1 2 3\n3 0 1 2\n";
        let glued = "OFF4 2 0\n0 0 0\n1 0 0\n1 1 0\n0 1 0\n4 0 1 2 3\n3 0 1 2\n";
        let a = parse(plain.as_bytes()).unwrap();
        let b = parse(glued.as_bytes()).unwrap();
        assert_eq!(a.vertices, b.vertices);
        assert_eq!(a.triangles, vec![[0, 1, 2], [0, 2, 3], [0, 1, 2]]);
        assert_eq!(a.triangles, b.triangles);
    }

    #[test]
    fn comments_blank_lines_crlf_and_colours() {
        let s = "# made by hand\r\nCOFF\r\n\r\n3 1 0 # counts\r\n0 0 0 255 0 0 255\r\n1 0 0 0 255 0 255\r\n\r\n0 1 0 0 0 255 255\r\n3 0 1 2 10 20 30\r\n";
        let m = parse(s.as_bytes()).unwrap();
        assert_eq!(m.vertices.len(), 3);
        assert_eq!(m.vertices[2], [0.0, 1.0, 0.0]);
        assert_eq!(m.triangles, vec![[0, 1, 2]]);
    }

    #[test]
    fn huge_claim_fails_before_allocating() {
        let e = parse(b"OFF\n1000000000000 1 0\n0 0 0\n").unwrap_err();
        assert!(matches!(e, MeshError::ClaimsTooMuch { .. }), "{e}");
        assert!(e.to_string().contains("1000000000000 vertices"));
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse(b"OFF\n3 1 0\n0 0 0\n1 x 0\n0 1 0\n3 0 1 2\n").unwrap_err();
        assert!(e.to_string().contains("line 4"), "{e}");
        let e = parse(b"OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 -1\n").unwrap_err();
        assert!(e.to_string().contains("vertex -1"), "{e}");
        let e = parse(b"OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 3\n").unwrap_err();
        assert!(e.to_string().contains("outside"), "{e}");
        let e = parse(b"OFF\n3 2 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n").unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        let e = parse(b"PLY\n3 2 0\n").unwrap_err();
        assert!(e.to_string().contains("expected an OFF header"), "{e}");
    }
}
