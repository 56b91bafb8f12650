//! Loading plugins: the example folder loads in order with the right roles; anything that
//! is not a plugin is refused with an error that names the file and says what is wrong.

use std::path::{Path, PathBuf};

use logbridge::{CompiledPlugin, PluginEngine, PluginError, PluginLimits, PluginSet, Role};
use logbridge_tests::{fixture, plugins_dir};

fn engine() -> PluginEngine {
    PluginEngine::new(PluginLimits {
        max_instances: 16,
        ..PluginLimits::default()
    })
    .expect("engine")
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("loader-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn invalid_reason(error: PluginError, file: &Path) -> String {
    match error {
        PluginError::Invalid { file: f, reason } => {
            assert_eq!(f, file, "the error names the file");
            reason
        }
        other => panic!("expected PluginError::Invalid, got {other:?}"),
    }
}

#[test]
fn example_plugins_load_in_file_name_order_with_their_roles() {
    let set = PluginSet::load_dir(&engine(), &plugins_dir()).unwrap();
    let loaded: Vec<(&str, Role)> = set.plugins().iter().map(|p| (p.name(), p.role())).collect();
    assert_eq!(
        loaded,
        [
            ("10-drop-noise", Role::Filter),
            ("20-redact", Role::Transformer),
            ("30-route-by-category", Role::Router),
        ]
    );
    let drop_noise = &set.plugins()[0];
    assert_eq!(
        drop_noise.config(),
        [(
            "drop_types".to_string(),
            "seacft,seccft,sertft,mgmt_api_read".to_string()
        )]
    );
}

#[test]
fn component_of_the_wrong_world_is_refused() {
    let file = fixture("not-a-plugin");
    let reason = invalid_reason(CompiledPlugin::load(&engine(), &file).unwrap_err(), &file);
    assert!(
        reason.contains("wasi:cli/run"),
        "names what it does export: {reason}"
    );
    assert!(
        reason.contains("logbridge:plugin/filter@0.2.0"),
        "names what was expected: {reason}"
    );
}

#[test]
fn bytes_that_are_not_webassembly_are_refused() {
    let dir = scratch("garbage");
    let file = dir.join("10-garbage.wasm");
    std::fs::write(&file, b"this is not wasm at all").unwrap();
    let reason = invalid_reason(CompiledPlugin::load(&engine(), &file).unwrap_err(), &file);
    assert!(reason.contains("not WebAssembly"), "{reason}");
}

#[test]
fn core_module_is_refused_with_a_hint_to_build_a_component() {
    let dir = scratch("core");
    let file = dir.join("10-core.wasm");
    std::fs::write(&file, b"\0asm\x01\0\0\0").unwrap();
    let reason = invalid_reason(CompiledPlugin::load(&engine(), &file).unwrap_err(), &file);
    assert!(reason.contains("core WebAssembly module"), "{reason}");
    assert!(reason.contains("wasm32-wasip2"), "{reason}");
}

#[test]
fn truncated_component_is_refused() {
    let dir = scratch("truncated");
    let file = dir.join("30-route.wasm");
    let bytes = std::fs::read(plugins_dir().join("30-route-by-category.wasm")).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let reason = invalid_reason(CompiledPlugin::load(&engine(), &file).unwrap_err(), &file);
    assert!(reason.contains("does not compile"), "{reason}");
}

#[test]
fn init_error_is_reported_with_the_plugins_message() {
    let dir = scratch("init");
    let file = dir.join("10-drop-noise.wasm");
    std::fs::copy(plugins_dir().join("10-drop-noise.wasm"), &file).unwrap();
    std::fs::write(
        dir.join("10-drop-noise.toml"),
        "[config]\ndrop_typos = \"f\"\n",
    )
    .unwrap();
    match CompiledPlugin::load(&engine(), &file).unwrap_err() {
        PluginError::Init { plugin, reason } => {
            assert_eq!(plugin, "10-drop-noise");
            assert!(
                reason.contains(
                    "config key `drop_typos`: is unknown; this plugin reads `drop_types`"
                ),
                "{reason}"
            );
        }
        other => panic!("expected PluginError::Init, got {other:?}"),
    }
}

#[test]
fn malformed_sidecar_is_refused_naming_the_file() {
    let dir = scratch("sidecar");
    let file = dir.join("10-drop-noise.wasm");
    std::fs::copy(plugins_dir().join("10-drop-noise.wasm"), &file).unwrap();
    std::fs::write(dir.join("10-drop-noise.toml"), "[config\n").unwrap();
    let error = CompiledPlugin::load(&engine(), &file).unwrap_err();
    assert!(
        matches!(&error, PluginError::Sidecar { file, .. } if file.ends_with("10-drop-noise.toml")),
        "{error:?}"
    );
}

#[test]
fn a_bad_file_fails_the_folder_and_is_named() {
    let dir = scratch("folder");
    std::fs::copy(
        plugins_dir().join("20-redact.wasm"),
        dir.join("20-redact.wasm"),
    )
    .unwrap();
    std::fs::copy(fixture("not-a-plugin"), dir.join("25-command.wasm")).unwrap();
    std::fs::write(
        dir.join("README.txt"),
        "not a plugin, and not a .wasm: ignored",
    )
    .unwrap();
    let error = PluginSet::load_dir(&engine(), &dir).unwrap_err();
    assert!(error.to_string().contains("25-command.wasm"), "{error}");
}

#[test]
fn missing_folder_is_a_clear_error() {
    let error = PluginSet::load_dir(&engine(), Path::new("/nonexistent/plugins")).unwrap_err();
    assert!(matches!(error, PluginError::ReadDir { .. }), "{error:?}");
    assert!(
        error.to_string().contains("/nonexistent/plugins"),
        "{error}"
    );
}

#[test]
fn a_component_built_for_contract_0_1_is_refused_naming_the_versions_and_the_fix() {
    let file = fixture("contract-0-1");
    let reason = invalid_reason(CompiledPlugin::load(&engine(), &file).unwrap_err(), &file);
    assert!(
        reason.contains("built for the plugin contract logbridge:plugin@0.1.0")
            && reason.contains("this host speaks logbridge:plugin@0.2.0")
            && reason.contains("rebuild it"),
        "{reason}"
    );
}

#[test]
fn a_sidecar_may_narrow_the_declared_fields_but_not_widen_them() {
    let dir = scratch("narrow");
    let file = dir.join("20-redact.wasm");
    std::fs::copy(plugins_dir().join("20-redact.wasm"), &file).unwrap();
    let sidecar = dir.join("20-redact.toml");
    std::fs::write(&sidecar, "[projection]\nfields = [\"data.ip\"]\n").unwrap();
    let plugin = CompiledPlugin::load(&engine(), &file).expect("a narrowed plugin loads");
    assert_eq!(plugin.reads().declared(), ["data.user_name", "data.ip"]);
    assert_eq!(plugin.projection().unwrap().fields(), ["data.ip"]);

    std::fs::write(&sidecar, "[projection]\nfields = [\"data.type\"]\n").unwrap();
    match CompiledPlugin::load(&engine(), &file).unwrap_err() {
        PluginError::Sidecar { file, reason } => {
            assert_eq!(file, sidecar);
            assert!(
                reason.contains("`data.type` is not among the fields the plugin reads"),
                "{reason}"
            );
        }
        other => panic!("expected PluginError::Sidecar, got {other:?}"),
    }
}
