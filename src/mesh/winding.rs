//! Consistent face orientation: every triangle wound so that its normal faces out of the solid,
//! as the shape diameter function needs (its rays go against the normal, and a wall is the
//! opposite side of a part only when it faces the other way).
//!
//! Files often wind some faces the other way: a part exported mirrored, a face flipped by hand,
//! a triangle soup (STL) assembled from several sources. Flipping the whole mesh when its
//! signed volume is negative fixes only a mesh inverted as a whole; here the orientation is
//! first made consistent across every edge two faces share (found by vertex position, so an
//! unwelded STL's faces are neighbours too), then each closed part is turned to face out by its
//! own signed volume, and the open parts together by the whole mesh's.

use std::collections::HashMap;

use foldhash::fast::FixedState;

use super::Vec3;

/// Makes the winding of `triangles` consistent and outward as the module says; returns how many
/// triangles were flipped. A triangle whose neighbours disagree (a non-orientable or
/// non-manifold patch) keeps the orientation the first of them gave it.
pub(crate) fn orient(vertices: &[Vec3], triangles: &mut [[u32; 3]]) -> usize {
    let n = triangles.len();
    if n == 0 {
        return 0;
    }
    if n >= (1 << 31) - 1 {
        // Past the index packing below (no file under the 4 GiB limit holds this many): the
        // whole mesh turned by its volume alone.
        let volume: f64 = triangles
            .iter()
            .map(|t| {
                let [a, b, c] = t.map(|v| vertices[v as usize]);
                f64::from(a.dot(b.cross(c)))
            })
            .sum();
        if volume >= 0.0 {
            return 0;
        }
        for t in triangles.iter_mut() {
            t.swap(1, 2);
        }
        return n;
    }
    // One id per distinct position (-0.0 and 0.0 alike), so faces that share an edge in space
    // share it here whether or not the file shares their vertices.
    let mut ids: HashMap<[u32; 3], u32, FixedState> =
        HashMap::with_capacity_and_hasher(vertices.len() / 8, FixedState::default());
    let canon: Vec<u32> = vertices
        .iter()
        .map(|v| {
            let key = v.to_array().map(|c| (c + 0.0).to_bits());
            let next = ids.len() as u32;
            *ids.entry(key).or_insert(next)
        })
        .collect();
    // Every edge filed under its lower position id (a bucket per id, counted first so the
    // buckets lie in one array): (higher id, triangle with the top bit set when the triangle
    // runs the edge low to high). Buckets hold a handful of edges, so matching the faces of one
    // edge sorts a few entries at a time rather than all 3n at once.
    const SAME: u32 = 1 << 31;
    let nv = ids.len();
    drop(ids);
    let edge_ids =
        |tri: &[u32; 3], k: usize| (canon[tri[k] as usize], canon[tri[(k + 1) % 3] as usize]);
    let mut start = vec![0u32; nv + 1];
    for tri in triangles.iter() {
        for k in 0..3 {
            let (a, b) = edge_ids(tri, k);
            if a != b {
                start[a.min(b) as usize + 1] += 1;
            }
        }
    }
    for v in 0..nv {
        start[v + 1] += start[v];
    }
    let mut fill = start.clone();
    let mut slots = vec![(0u32, 0u32); start[nv] as usize];
    for (t, tri) in triangles.iter().enumerate() {
        for k in 0..3 {
            let (a, b) = edge_ids(tri, k);
            if a != b {
                let at = &mut fill[a.min(b) as usize];
                slots[*at as usize] = (a.max(b), t as u32 | if a < b { SAME } else { 0 });
                *at += 1;
            }
        }
    }
    drop(fill);
    // Neighbours across edges exactly two faces share, at most one per edge: the other face,
    // with the top bit set when they run the edge the same way (so one of them must flip). A
    // boundary or non-manifold edge marks its faces as part of an open surface.
    const NONE: u32 = u32::MAX;
    let mut neighbours: Vec<[u32; 3]> = vec![[NONE; 3]; n];
    let mut add = |t: u32, o: u32, same: bool| {
        let slot = neighbours[t as usize].iter_mut().find(|s| **s == NONE);
        if let Some(s) = slot {
            *s = o | if same { SAME } else { 0 };
        }
    };
    let mut open_face = vec![false; n];
    for v in 0..nv {
        let bucket = &mut slots[start[v] as usize..start[v + 1] as usize];
        bucket.sort_unstable();
        let mut i = 0;
        while i < bucket.len() {
            let mut j = i + 1;
            while j < bucket.len() && bucket[j].0 == bucket[i].0 {
                j += 1;
            }
            let (p, q) = (bucket[i].1, bucket.get(i + 1).map_or(0, |e| e.1));
            if j - i == 2 && (p & !SAME) != (q & !SAME) {
                let same = (p & SAME) == (q & SAME);
                add(p & !SAME, q & !SAME, same);
                add(q & !SAME, p & !SAME, same);
            } else {
                for e in &bucket[i..j] {
                    open_face[(e.1 & !SAME) as usize] = true;
                }
            }
            i = j;
        }
    }
    drop(slots);
    // Walk each connected part from its first face, flipping faces to agree with it.
    const UNSEEN: u32 = u32::MAX;
    let mut part = vec![UNSEEN; n];
    let mut flip = vec![false; n];
    let mut parts: Vec<(f64, bool)> = Vec::new(); // (signed volume, open) of each part
    let mut stack = Vec::new();
    for seed in 0..n {
        if part[seed] != UNSEEN {
            continue;
        }
        let id = parts.len() as u32;
        part[seed] = id;
        stack.push(seed as u32);
        let mut open = false;
        while let Some(t) = stack.pop() {
            let t = t as usize;
            open |= open_face[t];
            for &s in neighbours[t].iter().filter(|&&s| s != NONE) {
                let o = (s & !SAME) as usize;
                if part[o] == UNSEEN {
                    part[o] = id;
                    flip[o] = flip[t] ^ (s & SAME != 0);
                    stack.push(o as u32);
                }
            }
        }
        parts.push((0.0, open));
    }
    for (t, tri) in triangles.iter().enumerate() {
        let [a, b, c] = tri.map(|v| vertices[v as usize]);
        let v = f64::from(a.dot(b.cross(c))) / 6.0;
        parts[part[t] as usize].0 += if flip[t] { -v } else { v };
    }
    // Closed parts face out by their own volume. An open part encloses nothing alone, and its
    // signed volume depends on where the origin is (a box with one face missing can sum to less
    // than zero wound outward), so the open parts turn together, and only when the whole mesh,
    // its closed parts already outward, still faces inward: a mesh of one open part flips as it
    // did before, and a fin or holed part beside closed ones keeps its winding.
    let total: f64 = parts
        .iter()
        .map(|&(v, open)| if open { v } else { v.abs() })
        .sum();
    let inverted: Vec<bool> = parts
        .iter()
        .map(|&(v, open)| if open { total < 0.0 } else { v < 0.0 })
        .collect();
    let mut flipped = 0;
    for (t, tri) in triangles.iter_mut().enumerate() {
        if flip[t] ^ inverted[part[t] as usize] {
            tri.swap(1, 2);
            flipped += 1;
        }
    }
    flipped
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A unit cube's 12 triangles, wound outward, with 8 shared vertices.
    fn cube(offset: Vec3) -> (Vec<Vec3>, Vec<[u32; 3]>) {
        let v: Vec<Vec3> = (0..8)
            .map(|i| {
                offset + Vec3::new((i & 1) as f32, ((i >> 1) & 1) as f32, ((i >> 2) & 1) as f32)
            })
            .collect();
        let quads = [
            [0, 2, 3, 1], // z = 0, facing -z
            [4, 5, 7, 6], // z = 1
            [0, 1, 5, 4], // y = 0
            [2, 6, 7, 3], // y = 1
            [0, 4, 6, 2], // x = 0
            [1, 3, 7, 5], // x = 1
        ];
        let t = quads
            .iter()
            .flat_map(|&[a, b, c, d]| [[a, b, c], [a, c, d]])
            .collect();
        (v, t)
    }

    /// Whether every face's normal points away from its part's centre.
    fn outward(v: &[Vec3], t: &[[u32; 3]], centre: impl Fn(Vec3) -> Vec3) -> bool {
        t.iter().all(|&[a, b, c]| {
            let (a, b, c) = (v[a as usize], v[b as usize], v[c as usize]);
            let mid = (a + b + c) / 3.0;
            (b - a).cross(c - a).dot(mid - centre(mid)) > 0.0
        })
    }

    #[test]
    fn the_cube_is_outward_and_stays_so() {
        let (v, mut t) = cube(Vec3::ZERO);
        assert!(outward(&v, &t, |_| Vec3::splat(0.5)));
        assert_eq!(orient(&v, &mut t), 0);
    }

    #[test]
    fn a_locally_inverted_face_is_turned_back() {
        let (v, mut t) = cube(Vec3::ZERO);
        t[2].swap(1, 2);
        t[7].swap(1, 2);
        assert_eq!(orient(&v, &mut t), 2);
        assert!(outward(&v, &t, |_| Vec3::splat(0.5)));
        // All inverted but two: the two are the odd ones, and everything ends outward.
        for tri in t.iter_mut().skip(2) {
            tri.swap(1, 2);
        }
        orient(&v, &mut t);
        assert!(outward(&v, &t, |_| Vec3::splat(0.5)));
    }

    #[test]
    fn an_unwelded_soup_is_oriented_by_position() {
        let (v, t) = cube(Vec3::ZERO);
        // Every triangle its own three vertices, as STL stores them; one inverted.
        let mut sv = Vec::new();
        let mut st = Vec::new();
        for (i, tri) in t.iter().enumerate() {
            let k = sv.len() as u32;
            sv.extend(tri.map(|x| v[x as usize]));
            st.push(if i == 5 {
                [k, k + 2, k + 1]
            } else {
                [k, k + 1, k + 2]
            });
        }
        assert_eq!(orient(&sv, &mut st), 1);
        assert!(outward(&sv, &st, |_| Vec3::splat(0.5)));
    }

    #[test]
    fn each_closed_part_faces_out_by_its_own_volume() {
        // A big cube and a small one beside it, the small one inverted: the total volume is
        // positive, so flipping by the whole mesh's volume left the small one inside out.
        let (mut v, mut t) = cube(Vec3::ZERO);
        for p in &mut v {
            *p *= 3.0;
        }
        let (v2, t2) = cube(Vec3::new(5.0, 0.0, 0.0));
        let base = v.len() as u32;
        v.extend(v2);
        t.extend(
            t2.iter()
                .map(|tri| [tri[0] + base, tri[2] + base, tri[1] + base]),
        );
        assert_eq!(orient(&v, &mut t), 12);
        let centre = |m: Vec3| {
            if m.x > 4.0 {
                Vec3::new(5.5, 0.5, 0.5)
            } else {
                Vec3::splat(1.5)
            }
        };
        assert!(outward(&v, &t, centre));
    }

    #[test]
    fn an_open_surface_as_a_whole_follows_its_volume() {
        // The cube without its top, wound inward: flipped as a whole, as before.
        let (v, mut t) = cube(Vec3::ZERO);
        t.remove(3);
        t.remove(2);
        for tri in &mut t {
            tri.swap(1, 2);
        }
        assert_eq!(orient(&v, &mut t), 10);
        assert!(outward(&v, &t, |_| Vec3::splat(0.5)));
    }
}
