//! Any bytes as a Parquet feature table: a table or a clear error, never a panic, never an
//! allocation sized by what a header claims.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = shapeclf::features::FeatureTable::parse_parquet(
        data.to_vec(),
        std::path::Path::new("fuzz.parquet"),
    );
});
