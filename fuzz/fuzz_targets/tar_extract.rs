//! `PUT /containers/{id}/archive`'s extraction of a client's tar into a container tree:
//! whatever the archive holds, nothing is written outside the tree, even through the
//! tree's own symlinks to `/` and to `..`.
#![no_main]

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use berth_engine::confined::{Confined, ExtractOptions};
use libfuzzer_sys::fuzz_target;

/// A work dir with `tree/` (the container's root: `dest/`, a symlink to `/` and one
/// climbing out) and `outside/`, which must stay empty.
fn fresh() -> PathBuf {
    let base = std::env::temp_dir().join(format!("berth-fuzz-tar-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(base.join("tree/dest")).unwrap();
    std::fs::create_dir_all(base.join("outside")).unwrap();
    std::os::unix::fs::symlink("/", base.join("tree/dest/root")).unwrap();
    std::os::unix::fs::symlink("../../outside", base.join("tree/dest/up")).unwrap();
    base
}

fn entries(dir: &Path) -> Vec<OsString> {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default()
}

fuzz_target!(|data: &[u8]| {
    let base = fresh();
    let tree = Confined::open(&base.join("tree")).unwrap();
    let dest = tree.extraction_point("/dest").unwrap();
    let _ = tree.extract(&dest, data, &ExtractOptions::default());
    assert!(entries(&base.join("outside")).is_empty(), "wrote outside the tree");
    let mut top = entries(&base);
    top.sort();
    assert_eq!(top, ["outside", "tree"], "wrote beside the tree");
});
