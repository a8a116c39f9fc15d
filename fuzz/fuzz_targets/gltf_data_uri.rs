//! Any text as a glTF buffer's `data:` URI: the decoded bytes or a clear error, never a panic
//! (issue #23: multibyte text before the comma panicked). A URI that decodes must give back
//! bytes that, encoded again, decode to the same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Both as given and behind the prefix the loader looks for, so the fuzzer need not find it.
    for uri in [text.to_string(), format!("data:{text}")] {
        if let Ok(bytes) = shapeclf::mesh::decode_data_uri(&uri) {
            let again = shapeclf::mesh::decode_data_uri(&format!(
                "data:application/octet-stream;base64,{}",
                base64_encode(&bytes)
            ));
            assert_eq!(again.as_deref(), Ok(&bytes[..]));
        }
    }
});

/// Standard base64 with padding (the fuzz crate keeps its dependencies to the product's).
fn base64_encode(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= c.len() {
                out.push(A[(n >> (18 - 6 * k)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
