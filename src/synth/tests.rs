//! Tests of the synthetic shapes and datasets.

use super::*;
use crate::mesh::Mesh;

#[test]
fn every_class_builds_a_valid_outward_mesh() {
    for class in ShapeClass::ALL {
        for s in 0..3 {
            let mut rng = ChaCha8Rng::seed_from_u64(s);
            let raw = shape(class, &mut rng);
            let (mut m, _) = Mesh::from_raw(raw).unwrap_or_else(|e| panic!("{class}: {e}"));
            m.normalize();
            assert!(m.signed_volume() > 0.0, "{class} faces inwards");
        }
    }
}

#[test]
fn every_class_gets_a_test_shape_and_huge_sizes_are_refused() {
    for n in 2..12 {
        let tests = (0..n).filter(|&i| is_test(i, n)).count();
        assert!(tests >= 1 && tests < n, "{n} shapes: {tests} test");
    }
    // The demo's split (40 per class) is unchanged: every fifth shape.
    assert_eq!((0..40).filter(|&i| is_test(i, 40)).count(), 8);
    assert!(check_size(40, 2).is_ok());
    let e = check_size(40, 20).unwrap_err();
    assert!(e.contains("triangles"), "{e}");
    assert!(check_size(1, 40).is_err(), "no overflow");
}

#[test]
fn subdivision_keeps_the_shape() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let raw = shape(ShapeClass::Mug, &mut rng);
    let (a, _) = Mesh::from_raw(raw.clone()).unwrap();
    let fine = subdivide(raw.clone(), 2);
    assert_eq!(fine.triangles.len(), raw.triangles.len() * 16);
    let (b, _) = Mesh::from_raw(fine).unwrap();
    assert!((a.area() - b.area()).abs() < 1e-3 * a.area());
    assert!((a.signed_volume() - b.signed_volume()).abs() < 1e-3 * a.signed_volume().abs());
}

#[test]
fn gltf_round_trips_and_default_formats_are_unchanged() {
    let raw = shape(ShapeClass::Mug, &mut ChaCha8Rng::seed_from_u64(2));
    let d = tempfile::tempdir().unwrap();
    for ext in ["glb", "gltf"] {
        let p = d.path().join(format!("m.{ext}"));
        write_mesh(&p, &raw, false).unwrap();
        let back = crate::mesh::load_raw(&p).unwrap();
        assert_eq!(back.vertices, raw.vertices, "{ext}");
        assert_eq!(back.triangles, raw.triangles, "{ext}");
    }
    // The default cycle is the one the demo dataset was made with.
    let a = write_dataset(&d.path().join("a"), 5, 1, 0).unwrap();
    let ext = |p: &PathBuf| p.extension().unwrap().to_str().unwrap().to_string();
    let cups: Vec<String> = a
        .iter()
        .filter(|p| p.starts_with(d.path().join("a/cup")))
        .map(ext)
        .collect();
    assert_eq!(cups, ["off", "obj", "stl", "ply", "off"]);
    // Other formats: the same shapes in other files.
    let b = write_dataset_in(&d.path().join("b"), 5, 1, 0, &["glb", "gltf"]).unwrap();
    assert_eq!(b.iter().filter(|p| ext(p) == "glb").count(), 27);
    for (pa, pb) in a.iter().zip(&b) {
        let area = |p: &Path| {
            Mesh::from_raw(crate::mesh::load_raw(p).unwrap())
                .unwrap()
                .0
                .area()
        };
        let (x, y) = (area(pa), area(pb));
        assert!((x - y).abs() <= 1e-6 * x, "{}: {x} vs {y}", pb.display());
    }
    assert!(write_dataset_in(&d.path().join("c"), 1, 1, 0, &["fbx"]).is_err());
    assert!(write_dataset_in(&d.path().join("c"), 1, 1, 0, &[]).is_err());
}

#[test]
fn icosphere_is_closed_and_round() {
    let m = icosphere(3);
    assert_eq!(m.triangles.len(), 20 * 64);
    let vol = m.signed_volume();
    assert!(
        (vol - 4.0 / 3.0 * std::f64::consts::PI).abs() < 0.05,
        "{vol}"
    );
}

#[test]
fn realistic_shapes_are_valid_and_arbitrarily_posed() {
    for (ci, class) in ShapeClass::REALISTIC.into_iter().enumerate() {
        assert_eq!(ShapeClass::parse(class.name()), Some(class));
        let mut rng = crate::seeding::rng(0, crate::seeding::Stream::SynthClass(ci));
        let mut pose = crate::seeding::rng(0, crate::seeding::Stream::SynthPose(ci));
        for _ in 0..3 {
            let raw = perturb(shape(class, &mut rng), &mut pose);
            Mesh::from_raw(raw).unwrap_or_else(|e| panic!("{class}: {e}"));
        }
    }
    // A glass stands tall along z; posed arbitrarily, z is its longest extent only sometimes.
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let mut pose = ChaCha8Rng::seed_from_u64(5);
    let tall_in_z = (0..40)
        .filter(|_| {
            let m = perturb(shape(ShapeClass::Glass, &mut rng), &mut pose);
            let ext = |k: usize| {
                let (lo, hi) = m
                    .vertices
                    .iter()
                    .fold((f32::MAX, f32::MIN), |(l, h), v| (l.min(v[k]), h.max(v[k])));
                hi - lo
            };
            ext(2) > ext(0) && ext(2) > ext(1)
        })
        .count();
    assert!(
        (3..37).contains(&tall_in_z),
        "z longest in {tall_in_z} of 40"
    );
}

#[test]
fn the_part_classes_differ_from_their_twins_by_a_part() {
    // Same draws up to the extra part: a stool is a chair's seat and legs.
    let stool = shape(ShapeClass::Stool, &mut ChaCha8Rng::seed_from_u64(9));
    let chair = shape(ShapeClass::Chair, &mut ChaCha8Rng::seed_from_u64(9));
    assert!(stool.triangles.len() < chair.triangles.len());
    let pitcher = shape(ShapeClass::Pitcher, &mut ChaCha8Rng::seed_from_u64(9));
    let mug = shape(ShapeClass::Mug, &mut ChaCha8Rng::seed_from_u64(9));
    assert!(pitcher.triangles.len() > mug.triangles.len());
    let desk = shape(ShapeClass::Desk, &mut ChaCha8Rng::seed_from_u64(9));
    let table = shape(ShapeClass::Table, &mut ChaCha8Rng::seed_from_u64(9));
    assert_eq!(desk.triangles.len(), table.triangles.len() + 12);
}
