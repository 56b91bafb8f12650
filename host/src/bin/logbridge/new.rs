//! `logbridge new`: a plugin project to start from — the source of a working plugin of
//! the role asked for, its sidecar, a case file that passes, a one-command build into a
//! plugins folder, and the SDK vendored in, so it builds with nothing else checked out.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

/// Start a plugin project: `logbridge new 40-my-router --role router`.
#[derive(clap::Args)]
pub(crate) struct NewArgs {
    /// The plugin's name: its file will be `NAME.wasm` (letters, digits, `-` and `_`;
    /// a number in front sets its place among the plugins, e.g. `40-my-router`).
    name: String,
    /// The language to write it in.
    #[arg(long, value_enum, default_value = "rust")]
    lang: Lang,
    /// Its role.
    #[arg(long, value_enum)]
    role: RoleArg,
    /// Where to create the project; default `./NAME`. It must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Lang {
    Rust,
    Python,
    Js,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum RoleArg {
    Filter,
    Transformer,
    Router,
}

/// The contract, for componentize-py and componentize-js.
const WIT: &str = include_str!("../../../../wit/plugin.wit");
/// The Python helper module, vendored into every Python project.
const PY_HELPER: &str = include_str!("../../../../sdk/python/logbridge_plugin.py");
/// The JavaScript helper module, vendored into every JavaScript project.
const JS_HELPER: &str = include_str!("../../../../sdk/js/logbridge_plugin.js");

/// The Rust SDK, vendored into every Rust project.
const SDK: &[(&str, &str)] = &[
    (
        "src/lib.rs",
        include_str!("../../../../crates/logbridge-plugin/src/lib.rs"),
    ),
    (
        "src/bindings.rs",
        include_str!("../../../../crates/logbridge-plugin/src/bindings.rs"),
    ),
    (
        "src/config.rs",
        include_str!("../../../../crates/logbridge-plugin/src/config.rs"),
    ),
    (
        "src/event.rs",
        include_str!("../../../../crates/logbridge-plugin/src/event.rs"),
    ),
    (
        "src/lookup.rs",
        include_str!("../../../../crates/logbridge-plugin/src/lookup.rs"),
    ),
    (
        "src/pool.rs",
        include_str!("../../../../crates/logbridge-plugin/src/pool.rs"),
    ),
    (
        "wit/plugin.wit",
        include_str!("../../../../crates/logbridge-plugin/wit/plugin.wit"),
    ),
];

const SDK_MANIFEST: &str = r#"[package]
name = "logbridge-plugin"
description = "Write logbridge plugins in Rust (vendored by `logbridge new`)."
version = "{version}"
edition = "2024"
license = "Apache-2.0"
publish = false

[dependencies]
serde = { version = "1", features = ["derive"] }
serde_json = { version = "1", features = ["raw_value"] }
wit-bindgen = { version = "0.61", default-features = false, features = ["macros", "realloc", "std"] }

[features]
default = ["pool"]
# The SDK's allocator for the plugin (src/pool.rs); turn default features off to keep
# the system allocator, or to bring your own `#[global_allocator]`.
pool = []
"#;

const MANIFEST: &str = r#"[package]
name = "{crate}"
description = "logbridge {role}: {name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
logbridge-plugin = { path = "logbridge-plugin" }

# Small, fast components: what the host compiles and runs.
[profile.release]
opt-level = 3
lto = true
codegen-units = 1
strip = "debuginfo"
panic = "abort"

[workspace]
"#;

const BUILD: &str = r#"#!/usr/bin/env bash
# Builds {name}.wasm into dist/, beside its sidecar: a plugins folder for
# `logbridge test --plugins dist --cases cases` and `logbridge run --plugins dist`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    echo "adding the wasm32-wasip2 target (rustup target add wasm32-wasip2)" >&2
    rustup target add wasm32-wasip2 >&2
fi
cargo build --release --target wasm32-wasip2
mkdir -p dist
cp "${CARGO_TARGET_DIR:-target}/wasm32-wasip2/release/{artifact}.wasm" dist/{name}.wasm
cp {name}.toml dist/{name}.toml
echo "built dist/{name}.wasm; check it with: logbridge test --plugins dist --cases cases"
"#;

const PY_BUILD: &str = r#"#!/usr/bin/env bash
# Builds {name}.wasm into dist/, beside its sidecar: a plugins folder for
# `logbridge test --plugins dist --cases cases` and `logbridge run --plugins dist`.
# componentize-py (pinned) is installed on first use into a venv under .tools/
# (LOGBRIDGE_TOOLS=DIR uses DIR/python instead); nothing is installed globally.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
COMPONENTIZE_PY_VERSION=0.25.1
tools=${LOGBRIDGE_TOOLS:-.tools}
have=$("$tools/python/bin/python" -c \
    'import importlib.metadata as m; print(m.version("componentize-py"))' 2>/dev/null || true)
# It must run, not only be there: a folder moved elsewhere keeps the old path in its
# venv's #! lines, and the venv is then made again.
if [[ $have != "$COMPONENTIZE_PY_VERSION" ]] ||
    ! "$tools/python/bin/componentize-py" --version >/dev/null 2>&1; then
    echo "installing componentize-py $COMPONENTIZE_PY_VERSION into $tools/python" >&2
    python3 -m venv --clear "$tools/python"
    "$tools/python/bin/python" -m pip install --quiet --disable-pip-version-check \
        "componentize-py==$COMPONENTIZE_PY_VERSION"
fi
mkdir -p dist
"$tools/python/bin/componentize-py" -d wit -w {role}-plugin componentize app -p . \
    -o dist/{name}.wasm
cp {name}.toml dist/{name}.toml
echo "built dist/{name}.wasm; check it with: logbridge test --plugins dist --cases cases"
"#;

const JS_BUILD: &str = r#"#!/usr/bin/env bash
# Builds {name}.wasm into dist/, beside its sidecar: a plugins folder for
# `logbridge test --plugins dist --cases cases` and `logbridge run --plugins dist`.
# componentize-js (pinned) is installed on first use under .tools/node
# (LOGBRIDGE_TOOLS=DIR uses DIR/node instead); nothing is installed globally.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
COMPONENTIZE_JS_VERSION=0.23.0
tools=${LOGBRIDGE_TOOLS:-.tools}
package="$tools/node/node_modules/@bytecodealliance/componentize-js/package.json"
have=$(node -e 'console.log(require(require("path").resolve(process.argv[1])).version)' \
    "$package" 2>/dev/null || true)
if [[ $have != "$COMPONENTIZE_JS_VERSION" ]]; then
    echo "installing componentize-js $COMPONENTIZE_JS_VERSION into $tools/node" >&2
    mkdir -p "$tools/node"
    [[ -f $tools/node/package.json ]] || echo '{"private": true}' >"$tools/node/package.json"
    npm install --prefix "$tools/node" --no-audit --no-fund --save-exact --loglevel=error \
        "@bytecodealliance/componentize-js@$COMPONENTIZE_JS_VERSION"
fi
mkdir -p dist
# -d http -d fetch-event: no wasi:http imports, which the host does not offer.
"$tools/node/node_modules/.bin/componentize-js" plugin.js --wit wit -n {role}-plugin \
    -d http -d fetch-event -o dist/{name}.wasm
cp {name}.toml dist/{name}.toml
echo "built dist/{name}.wasm; check it with: logbridge test --plugins dist --cases cases"
"#;

const README: &str = r#"# {name}

A logbridge {role} plugin, written in {lang} on the logbridge {sdk}.

```sh
./build.sh                                        # dist/{name}.wasm + dist/{name}.toml
logbridge test --plugins dist --cases cases       # the cases in cases/ must pass
logbridge plugin check dist/{name}.wasm           # what the host makes of it
logbridge sample -n 20 | logbridge test --plugins dist    # each event's decision trace
```

Deploy: copy `dist/{name}.wasm` and `dist/{name}.toml` into the host's plugins folder;
a host started with `--watch` picks them up without a restart.

- `{source}`: the plugin. Its fields list the detail fields it reads (the host hands
  over only these); its `init` reads the sidecar's `[config]`.
- `{name}.toml`: the sidecar (configuration, limits, failure policy).
- `cases/{name}.toml`: input logs and the outcome each must have.
"#;

const FILTER_SIDECAR: &str = r#"# Sidecar for {name}.wasm: its configuration, passed to `init`.
[config]
# Auth0 log type codes to drop, comma-separated.
drop_types = "seacft,seccft"
"#;

const FILTER_CASES: &str = r#"# Cases for {name}: run with `logbridge test --plugins dist --cases cases`.

[[case]]
name = "a token exchange is dropped"
input = '{"type": "seacft"}'
expect = { dropped = true, by = "{name}" }

[[case]]
name = "a successful login is kept"
input = '{"type": "s"}'
expect = { dropped = false, buses = ["default"] }
"#;

const TRANSFORMER_SIDECAR: &str = r#"# Sidecar for {name}.wasm. The plugin takes no configuration; `[limits]` and
# `[failures]` may go here (see PLUGINS.md).
"#;

const TRANSFORMER_CASES: &str = r#"# Cases for {name}: run with `logbridge test --plugins dist --cases cases`.

[[case]]
name = "an e-mail user name is masked"
input = '{"type": "s", "user_name": "jane@example.com"}'
[case.expect.fields]
"data.user_name" = "***@example.com"

[[case]]
name = "a user name that is not an e-mail stays"
input = '{"type": "s", "user_name": "jane"}'
[case.expect.fields]
"data.user_name" = "jane"
"#;

const ROUTER_SIDECAR: &str = r#"# Sidecar for {name}.wasm: its configuration, passed to `init`.
[config]
# The bus security events go to.
bus = "security"
# The Auth0 log type codes that go there, comma-separated.
types = "f,fp,pwd_leak"
"#;

const ROUTER_CASES: &str = r#"# Cases for {name}: run with `logbridge test --plugins dist --cases cases`.

[[case]]
name = "a failed login goes to the security bus"
input = '{"type": "f"}'
expect = { buses = ["security"] }

[[case]]
name = "a successful login goes to the default bus"
input = '{"type": "s"}'
expect = { buses = ["default"] }
"#;

impl Lang {
    fn name(self) -> &'static str {
        match self {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
            Lang::Js => "JavaScript",
        }
    }

    fn sdk(self) -> &'static str {
        match self {
            Lang::Rust => "SDK (vendored in `logbridge-plugin/`)",
            Lang::Python => "helper module (vendored: `logbridge_plugin.py`)",
            Lang::Js => "helper module (vendored: `logbridge_plugin.js`)",
        }
    }

    fn source(self) -> &'static str {
        match self {
            Lang::Rust => "src/lib.rs",
            Lang::Python => "app.py",
            Lang::Js => "plugin.js",
        }
    }
}

/// Checks a plugin name: what a file stem and a package name can both hold.
fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        || !name.starts_with(|c: char| c.is_ascii_alphanumeric())
    {
        bail!(
            "`{name}` cannot be a plugin name: use letters, digits, `-` and `_`, starting with \
             a letter or digit (e.g. `40-my-router`)"
        );
    }
    Ok(())
}

/// The package name for plugin `name`: a crate name cannot start with a digit.
fn crate_name(name: &str) -> String {
    let name = name.to_ascii_lowercase().replace('_', "-");
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("plugin-{name}")
    } else {
        name
    }
}

/// The files of a project for plugin `name`, by path within it.
fn project(name: &str, lang: Lang, role: RoleArg) -> Vec<(String, String)> {
    let crate_name = crate_name(name);
    let role_name = match role {
        RoleArg::Filter => "filter",
        RoleArg::Transformer => "transformer",
        RoleArg::Router => "router",
    };
    let fill = |text: &str| {
        text.replace("{name}", name)
            .replace("{crate}", &crate_name)
            .replace("{artifact}", &crate_name.replace('-', "_"))
            .replace("{role}", role_name)
            .replace("{version}", env!("CARGO_PKG_VERSION"))
            .replace("{lang}", lang.name())
            .replace("{sdk}", lang.sdk())
            .replace("{source}", lang.source())
    };
    let (sidecar, cases) = match role {
        RoleArg::Filter => (FILTER_SIDECAR, FILTER_CASES),
        RoleArg::Transformer => (TRANSFORMER_SIDECAR, TRANSFORMER_CASES),
        RoleArg::Router => (ROUTER_SIDECAR, ROUTER_CASES),
    };
    let source = match (lang, role) {
        (Lang::Rust, RoleArg::Filter) => include_str!("new/rust_filter.rs.txt"),
        (Lang::Rust, RoleArg::Transformer) => include_str!("new/rust_transformer.rs.txt"),
        (Lang::Rust, RoleArg::Router) => include_str!("new/rust_router.rs.txt"),
        (Lang::Python, RoleArg::Filter) => include_str!("new/python_filter.py.txt"),
        (Lang::Python, RoleArg::Transformer) => include_str!("new/python_transformer.py.txt"),
        (Lang::Python, RoleArg::Router) => include_str!("new/python_router.py.txt"),
        (Lang::Js, RoleArg::Filter) => include_str!("new/js_filter.js.txt"),
        (Lang::Js, RoleArg::Transformer) => include_str!("new/js_transformer.js.txt"),
        (Lang::Js, RoleArg::Router) => include_str!("new/js_router.js.txt"),
    };
    let mut files = vec![
        (format!("{name}.toml"), fill(sidecar)),
        (format!("cases/{name}.toml"), fill(cases)),
        ("README.md".to_string(), fill(README)),
    ];
    let own = |path: &str, text: &str| (path.to_string(), text.to_string());
    match lang {
        Lang::Rust => {
            files.extend([
                own("Cargo.toml", &fill(MANIFEST)),
                own("src/lib.rs", &fill(source)),
                own("build.sh", &fill(BUILD)),
                own(".gitignore", "/target\n/dist\n"),
                own("logbridge-plugin/Cargo.toml", &fill(SDK_MANIFEST)),
            ]);
            for (path, text) in SDK {
                files.push(own(&format!("logbridge-plugin/{path}"), text));
            }
        }
        Lang::Python => files.extend([
            own("app.py", &fill(source)),
            own("logbridge_plugin.py", PY_HELPER),
            own("build.sh", &fill(PY_BUILD)),
            own(".gitignore", "/dist\n/.tools\n__pycache__/\n"),
            own("wit/plugin.wit", WIT),
        ]),
        Lang::Js => files.extend([
            own("plugin.js", &fill(source)),
            own("logbridge_plugin.js", JS_HELPER),
            own("build.sh", &fill(JS_BUILD)),
            own(".gitignore", "/dist\n/.tools\n"),
            own("wit/plugin.wit", WIT),
        ]),
    }
    files
}

/// Writes `files` under `dir`, which must not exist or be empty.
fn write(dir: &Path, files: &[(String, String)]) -> Result<()> {
    if dir.exists()
        && std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} already exists and is not empty; choose another name or --dir",
            dir.display()
        );
    }
    for (path, text) in files {
        let file = dir.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&file, text).with_context(|| format!("cannot write {}", file.display()))?;
    }
    set_executable(&dir.join("build.sh"))
}

#[cfg(unix)]
fn set_executable(file: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot make {} executable", file.display()))
}

#[cfg(not(unix))]
fn set_executable(_: &Path) -> Result<()> {
    Ok(())
}

pub(crate) fn new(args: NewArgs) -> Result<ExitCode> {
    check_name(&args.name)?;
    let dir = args.dir.unwrap_or_else(|| PathBuf::from(&args.name));
    write(&dir, &project(&args.name, args.lang, args.role))?;
    println!(
        "created {dir}: build it with `{dir}/build.sh`, then `logbridge test --plugins {dir}/dist \
         --cases {dir}/cases`",
        dir = dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_fit_a_file_and_a_package() {
        for good in ["40-my-router", "redact", "a_b"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "-x", "my plugin", "../x", "ünïcode"] {
            let err = check_name(bad).unwrap_err().to_string();
            assert!(err.contains("cannot be a plugin name"), "{bad}: {err}");
        }
        assert_eq!(crate_name("40-My_Router"), "plugin-40-my-router");
        assert_eq!(crate_name("redact"), "redact");
    }

    #[test]
    fn every_source_file_of_the_sdk_is_vendored() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/logbridge-plugin/src");
        for entry in std::fs::read_dir(&src).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let path = format!("src/{name}");
            assert!(
                SDK.iter().any(|(vendored, _)| *vendored == path),
                "{path} of the SDK is not in `SDK`: a new project would not build"
            );
        }
    }

    #[test]
    fn the_vendored_sdk_has_the_features_of_the_sdk() {
        let manifest = include_str!("../../../../crates/logbridge-plugin/Cargo.toml");
        let features = |text: &str| -> Vec<String> {
            text.lines()
                .skip_while(|line| *line != "[features]")
                .skip(1)
                .take_while(|line| !line.starts_with('['))
                .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
                .map(str::to_string)
                .collect()
        };
        let sdk = features(manifest);
        assert!(sdk.contains(&"pool = []".to_string()), "{sdk:?}");
        assert_eq!(features(SDK_MANIFEST), sdk);
    }

    #[test]
    fn every_placeholder_is_filled_and_the_helpers_are_vendored() {
        let wanted: [(Lang, &[&str]); 3] = [
            (
                Lang::Rust,
                &[
                    "Cargo.toml",
                    "src/lib.rs",
                    "logbridge-plugin/wit/plugin.wit",
                ],
            ),
            (
                Lang::Python,
                &["app.py", "logbridge_plugin.py", "wit/plugin.wit"],
            ),
            (
                Lang::Js,
                &["plugin.js", "logbridge_plugin.js", "wit/plugin.wit"],
            ),
        ];
        let holes = [
            "{name}",
            "{crate}",
            "{artifact}",
            "{role}",
            "{version}",
            "{lang}",
            "{sdk}",
            "{source}",
        ];
        for (lang, own) in wanted {
            for role in [RoleArg::Filter, RoleArg::Transformer, RoleArg::Router] {
                let files = project("40-x", lang, role);
                for (path, text) in &files {
                    // The WIT's and the code's own braces stay.
                    for hole in holes {
                        assert!(!text.contains(hole), "{path} still has {hole}");
                    }
                }
                let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
                let common = ["40-x.toml", "cases/40-x.toml", "build.sh", "README.md"];
                for wanted in own.iter().chain(&common) {
                    assert!(paths.contains(wanted), "{wanted} in {paths:?}");
                }
            }
        }
    }

    #[test]
    fn a_folder_with_something_in_it_is_not_overwritten() {
        let dir = std::env::temp_dir().join(format!("logbridge-new-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("keep.txt"), "mine").unwrap();
        let err = write(&dir, &project("x", Lang::Rust, RoleArg::Filter)).unwrap_err();
        assert!(
            err.to_string().contains("already exists and is not empty"),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("keep.txt")).unwrap(),
            "mine"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
