//! Any bytes given to the OFF loader: Ok or a clear error, never a panic; what parses goes on
//! through validation and normalisation as `features` would take it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(raw) = shapeclf::mesh::parse_bytes("off", data) {
        let _ = shapeclf::mesh::Mesh::from_raw(raw);
    }
});
