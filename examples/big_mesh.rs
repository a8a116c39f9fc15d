//! Writes one large mesh for memory benchmarks: an icosphere of 20 * 4^LEVEL triangles (level 9:
//! 5.2M) as binary STL. Usage: `cargo run --release --example big_mesh -- OUT.stl [LEVEL]`.
fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let Some(out) = args.get(1) else {
        eprintln!("usage: big_mesh OUT.stl [LEVEL]");
        std::process::exit(2);
    };
    let level: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(9);
    let m = shapeclf::synth::icosphere(level);
    let raw = shapeclf::mesh::RawMesh {
        vertices: m.vertices().iter().map(|v| [v.x, v.y, v.z]).collect(),
        triangles: m.triangles().to_vec(),
    };
    shapeclf::synth::write_mesh(std::path::Path::new(out), &raw, false)?;
    println!("{out}: {} triangles", raw.triangles.len());
    Ok(())
}
