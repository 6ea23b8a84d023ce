//! Embeds the bundled runbooks (`scripts/`), stdlib modules (`stdlib/`) and
//! worlds (`worlds/`) into the binary, so `hubops` works from any folder.

use std::fmt::Write as _;
use std::path::Path;

// The build script writes its generated file into OUT_DIR at build time;
// the gate's rule is about what hubops does when it runs.
#[allow(clippy::disallowed_methods)]
fn main() {
    // At run time, not `env!`: a compiled build script is reused by a
    // target folder shared between checkouts, and must read this one's files.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    let root = Path::new(&manifest).join("..");
    let mut out = String::new();
    for (dir, ext, name) in
        [("scripts", "rhai", "RUNBOOKS"), ("stdlib", "rhai", "MODULES"), ("worlds", "yaml", "WORLDS")]
    {
        let dir = root.join(dir);
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == ext));
        files.sort();
        let _ = writeln!(out, "pub(crate) static {name}: &[(&str, &str)] = &[");
        for path in files {
            println!("cargo:rerun-if-changed={}", path.display());
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            let abs = path.canonicalize().unwrap_or(path.clone());
            let _ = writeln!(out, "    ({stem:?}, include_str!({:?})),", abs.display().to_string());
        }
        let _ = writeln!(out, "];");
    }
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap_or_default()).join("embedded.rs");
    std::fs::write(dest, out).unwrap_or_else(|e| panic!("cannot write embedded.rs: {e}"));
}
