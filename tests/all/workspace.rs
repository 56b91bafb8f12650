//! The workspace's crates keep their places: the examples and the benchmarks build on the
//! `logbridge` library alone, never on this test harness.

use anyhow::{Context, Result};
use logbridge_tests::workspace_root;

/// The names of every dependency (normal, dev and build) of the crate in `dir`.
fn dependencies(dir: &str) -> Result<Vec<String>> {
    let path = workspace_root().join(dir).join("Cargo.toml");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let manifest: toml::Table = toml::from_str(&text)?;
    let mut names = Vec::new();
    for table in ["dependencies", "dev-dependencies", "build-dependencies"] {
        if let Some(deps) = manifest.get(table).and_then(toml::Value::as_table) {
            for (name, spec) in deps {
                let path = spec.get("path").and_then(toml::Value::as_str);
                names.push(match path {
                    Some(path) => format!("{name} (path {path})"),
                    None => name.clone(),
                });
            }
        }
    }
    Ok(names)
}

#[test]
fn the_examples_and_benchmarks_do_not_build_on_the_test_harness() -> Result<()> {
    for dir in ["examples", "benches"] {
        let deps = dependencies(dir)?;
        assert!(
            deps.iter().any(|d| d == "logbridge"),
            "{dir} builds on logbridge: {deps:?}"
        );
        assert!(
            !deps
                .iter()
                .any(|d| d.starts_with("logbridge-tests") || d.contains("../tests")),
            "{dir} depends on the test harness; move what it needs into {dir}/ \
             (logbridge's public API and a helper of its own): {deps:?}"
        );
    }
    Ok(())
}
