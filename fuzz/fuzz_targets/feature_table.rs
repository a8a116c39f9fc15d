//! Any bytes as a feature table: a table or a clear error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = shapeclf::features::FeatureTable::parse_csv(data, std::path::Path::new("fuzz.csv"));
});
