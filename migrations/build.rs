//! Embeds the rollback files next to refinery's embedded up files, so the backend and the xtask
//! share one model of a migration. refinery's own `embed_migrations!` skips `*.down.sql`.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("sql");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("migrations/sql exists")
        .map(|entry| entry.expect("readable migrations/sql").path())
        .filter(|path| path.to_string_lossy().ends_with(".down.sql"))
        .collect();
    entries.sort();
    let mut code = String::from("&[\n");
    for path in entries {
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        writeln!(code, "    ({name:?}, include_str!({:?})),", path.display()).unwrap();
    }
    code.push_str("]\n");
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("embedded_downs.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}
