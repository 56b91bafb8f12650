//! The repository stands on its own: nothing in it reads a file outside it (the demo, the
//! tests and the benchmarks make their logs with `logbridge sample`). `scripts/test.sh`
//! also runs the demo in a fresh clone with nothing beside it.

use std::path::Path;

use logbridge_tests::workspace_root;

/// Folders that are built or installed, not part of the repository.
const NOT_OURS: &[&str] = &["target", ".git", ".venv", "node_modules"];

fn visit(dir: &Path, found: &mut Vec<String>, needle: &[u8]) {
    for entry in std::fs::read_dir(dir).expect("a readable folder") {
        let path = entry.expect("a folder entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() {
            if !NOT_OURS.contains(&name) {
                visit(&path, found, needle);
            }
        } else if let Ok(bytes) = std::fs::read(&path)
            && bytes.windows(needle.len()).any(|w| w == needle)
        {
            found.push(path.display().to_string());
        }
    }
}

#[test]
fn nothing_in_the_repository_reads_outside_it() {
    // Spelled in two pieces, so this file does not find itself.
    let needle = format!("{}{}", "../", "shared");
    let mut found = Vec::new();
    visit(&workspace_root(), &mut found, needle.as_bytes());
    assert!(
        found.is_empty(),
        "these files refer to `{needle}`, outside the repository: {found:?}"
    );
}
