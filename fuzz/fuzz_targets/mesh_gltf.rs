//! Any bytes given to the glTF loader (JSON or GLB: `.gltf` recognises the GLB magic, so both
//! containers are reached): Ok or a clear error, never a panic; what parses goes on through
//! validation and normalisation as `features` would take it. The external-file lister sees the
//! same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = shapeclf::mesh::linked_files(std::path::Path::new("fuzz.gltf"), data);
    if let Ok(raw) = shapeclf::mesh::parse_bytes("gltf", data) {
        let _ = shapeclf::mesh::Mesh::from_raw(raw);
    }
});
