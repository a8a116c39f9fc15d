//! Node transforms: 4x4 matrices in f64.

use super::*;

/// Column-major 4x4 transform, in f64 so deep hierarchies and extreme units keep their precision.
pub(super) type Mat = [f64; 16];

pub(super) const IDENTITY: Mat = [
    1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0,
];

pub(super) fn mul(a: &Mat, b: &Mat) -> Mat {
    let mut m = [0.0; 16];
    for c in 0..4 {
        for r in 0..4 {
            m[c * 4 + r] = (0..4).map(|k| a[k * 4 + r] * b[c * 4 + k]).sum();
        }
    }
    m
}

/// A node's local transform: its matrix, or translation * rotation * scale.
pub(super) fn local(node: &json::Node) -> Mat {
    if let Some(m) = node.matrix {
        return m.map(f64::from);
    }
    let [tx, ty, tz] = node.translation.unwrap_or([0.0; 3]).map(f64::from);
    let [sx, sy, sz] = node.scale.unwrap_or([1.0; 3]).map(f64::from);
    let [x, y, z, w] = node
        .rotation
        .map_or([0.0, 0.0, 0.0, 1.0], |q| q.0.map(f64::from));
    // Unit quaternions are required; normalising forgives rounding in the file.
    let n = (x * x + y * y + z * z + w * w).sqrt();
    let [x, y, z, w] = if n > 0.0 && n.is_finite() {
        [x / n, y / n, z / n, w / n]
    } else {
        [0.0, 0.0, 0.0, 1.0]
    };
    [
        (1.0 - 2.0 * (y * y + z * z)) * sx,
        2.0 * (x * y + z * w) * sx,
        2.0 * (x * z - y * w) * sx,
        0.0,
        2.0 * (x * y - z * w) * sy,
        (1.0 - 2.0 * (x * x + z * z)) * sy,
        2.0 * (y * z + x * w) * sy,
        0.0,
        2.0 * (x * z + y * w) * sz,
        2.0 * (y * z - x * w) * sz,
        (1.0 - 2.0 * (x * x + y * y)) * sz,
        0.0,
        tx,
        ty,
        tz,
        1.0,
    ]
}

/// Determinant of the linear part: negative for a mirroring transform.
pub(super) fn det3(m: &Mat) -> f64 {
    m[0] * (m[5] * m[10] - m[9] * m[6]) - m[4] * (m[1] * m[10] - m[9] * m[2])
        + m[8] * (m[1] * m[6] - m[5] * m[2])
}
