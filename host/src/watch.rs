//! Watching the plugins folder: a plugin or sidecar added, changed (in place or by
//! rename) or removed triggers a reload, once per burst of writes.
//!
//! Events are debounced: a reload starts only after the folder has been quiet for
//! [`QUIET`]. A file caught half-written fails to load, keeps the previous version
//! running, and the write that completes it triggers the next reload. A `.wasm` file
//! that arrives complete (renamed in, or closed after writing) starts compiling at once,
//! while the folder settles, and the reload takes that build (`plugin::ahead`).

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};

use crate::error::{Error, Result};
use crate::host::Host;

/// How long the folder must be quiet before a reload starts.
pub(crate) const QUIET: Duration = Duration::from_millis(25);

/// The running watcher; dropping it stops watching.
pub(crate) struct Watcher {
    _watcher: RecommendedWatcher,
}

/// A file closed after writing: the one access that changes the folder (opening and
/// reading, as a reload does, do not).
fn closed_after_writing(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Access(AccessKind::Close(AccessMode::Write))
    )
}

fn relevant(event: &notify::Event) -> bool {
    (!event.kind.is_access() || closed_after_writing(&event.kind))
        && event.paths.iter().any(|p| {
            p.extension()
                .is_some_and(|ext| ext == "wasm" || ext == "toml")
        })
}

/// The plugin file `event` says arrived complete: renamed into the folder, or closed
/// after writing.
fn arrived_plugin(event: &notify::Event) -> Option<&Path> {
    let complete = closed_after_writing(&event.kind)
        || matches!(
            event.kind,
            EventKind::Modify(ModifyKind::Name(RenameMode::To))
        );
    event
        .paths
        .last()
        .filter(|p| complete && p.extension().is_some_and(|ext| ext == "wasm"))
        .map(|p| p.as_path())
}

/// Starts watching `host`'s plugins folder; reloads run on `runtime`.
pub(crate) fn start(host: &Host, runtime: tokio::runtime::Handle) -> Result<()> {
    let dir = host.plugins_dir().ok_or(Error::NoPluginsDir)?.to_owned();
    let (tx, rx) = mpsc::channel::<notify::Event>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && relevant(&event)
        {
            let _ = tx.send(event);
        }
    })
    .map_err(|e| Error::Watch(format!("{e}")))?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(|e| Error::Watch(format!("cannot watch {}: {e}", dir.display())))?;
    let weak = host.weak();
    std::thread::Builder::new()
        .name("logbridge-watch".into())
        .spawn(move || {
            let compile_ahead = |event: &notify::Event| {
                if let Some(file) = arrived_plugin(event)
                    && let Some(host) = weak.upgrade()
                {
                    host.compile_ahead(file);
                }
            };
            // Ends when the watcher is dropped (shutdown) and the channel closes.
            while let Ok(event) = rx.recv() {
                compile_ahead(&event);
                while let Ok(event) = rx.recv_timeout(QUIET) {
                    compile_ahead(&event);
                }
                let Some(host) = weak.upgrade() else { break };
                if let Err(e) = runtime.block_on(host.reload()) {
                    tracing::error!("reloading the plugins folder failed: {e}");
                }
            }
        })
        .map_err(Error::Worker)?;
    host.set_watcher(Watcher { _watcher: watcher });
    Ok(())
}
