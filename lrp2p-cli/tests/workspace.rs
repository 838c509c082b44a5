//! Workspace hygiene the tool's users meet first: `cargo test` must not start with Cargo's
//! "output filename collision" warnings (issue 14, bug 11), which come from two crates having
//! an example of the same name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The workspace root (this crate's parent).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_owned()
}

/// Example targets Cargo discovers in `crate_dir/examples`: `NAME.rs` and `NAME/main.rs`.
fn examples(crate_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(crate_dir.join("examples")) else { return Vec::new() };
    let mut names = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
        if path.extension().is_some_and(|e| e == "rs") || path.join("main.rs").is_file() {
            names.push(name);
        }
    }
    names
}

#[test]
fn example_names_are_unique_across_the_workspace() {
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let crates = std::fs::read_dir(root()).expect("read workspace");
    for entry in crates.flatten() {
        let dir = entry.path();
        if !dir.join("Cargo.toml").is_file() {
            continue;
        }
        let krate = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        for name in examples(&dir) {
            seen.entry(name).or_default().push(krate.clone());
        }
    }
    assert!(seen.len() >= 6, "the adapters' examples were not found: {seen:?}");
    let clashes: Vec<_> = seen.iter().filter(|(_, crates)| crates.len() > 1).collect();
    assert!(clashes.is_empty(), "example names shared by several crates: {clashes:?}");
}
