//! Issue #23: data URIs with multibyte text, and node cycles.

use super::*;

/// Issue #23: a cycle reachable from a scene was walked once and accepted without a word.
#[test]
fn a_node_cycle_reachable_from_a_scene_is_an_error() {
    let mut b = Build::default();
    let p = b.positions(&[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]);
    b.mesh(vec![prim(p, None, 4)]);
    let parse = |nodes: Value, scenes: Value| {
        parse_bytes("glb", &glb(&b.json(nodes, scenes, None), &b.bin))
    };
    let cycle = json!([{"mesh": 0, "children": [1]}, {"children": [0]}]);
    let e = parse(cycle.clone(), json!([{"nodes": [0]}]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cycle") && e.contains("node 1") && e.contains("node 0"),
        "{e}"
    );
    // Longer, entered from a node of the cycle other than the first, and a node its own child.
    let long = json!([{"children": [1]}, {"children": [2]}, {"mesh": 0, "children": [0]}]);
    let e = parse(long, json!([{"nodes": [1]}]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("cycle"), "{e}");
    let selfish = json!([{"mesh": 0, "children": [0]}]);
    let e = parse(selfish, json!([{"nodes": [0]}]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("cycle"), "{e}");
    // A scene listing a node and its child is no cycle: each is placed once.
    let tree = json!([{"mesh": 0, "children": [1]}, {"mesh": 0}]);
    assert_eq!(
        parse(tree, json!([{"nodes": [0, 1]}]))
            .unwrap()
            .triangles
            .len(),
        2
    );
}

/// Issue #23: text before a data URI's comma was clipped by bytes, which panicked inside a
/// multibyte character ("not a char boundary").
#[test]
fn a_data_uri_with_multibyte_text_before_the_comma_is_an_error_not_a_panic() {
    for head in [
        format!("data:{}", "é".repeat(40)),
        format!("data:{}", "€".repeat(30)),
        format!("data:a{}", "😀".repeat(20)),
        format!("data:{};charset=utf-8", "ж".repeat(100)),
    ] {
        let e = decode_data_uri(&format!("{head},AAAA")).unwrap_err();
        assert!(e.contains("is not base64"), "{e}");
        let b = tet(4);
        let (n, s) = one_node();
        let mut j = b.json(n, s, Some("x"));
        j["buffers"][0]["uri"] = json!(format!("{head},AAAA"));
        let e = gltf_err("gltf", &serde_json::to_vec(&j).unwrap());
        assert!(e.contains("buffer 0") && e.contains("is not base64"), "{e}");
    }
    // Multibyte text in the data itself is an error too.
    let e = decode_data_uri("data:application/octet-stream;base64,ééé").unwrap_err();
    assert!(e.contains("not valid base64"), "{e}");
}
