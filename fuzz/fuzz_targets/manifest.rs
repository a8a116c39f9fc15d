//! Any text as a feature manifest: a manifest or a clear error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = shapeclf::features::Manifest::parse(text, std::path::Path::new("manifest.json"));
    }
});
