//! Watching the plugins folder: a plugin or sidecar added, changed (in place or by
//! rename) or removed triggers a reload, once per burst of writes.
//!
//! Events are debounced: a reload starts only after the folder has been quiet for
//! [`QUIET`]. A file caught half-written fails to load, keeps the previous version
//! running, and the write that completes it triggers the next reload.

use std::sync::mpsc;
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};

use crate::error::{Error, Result};
use crate::host::Host;

/// How long the folder must be quiet before a reload starts.
pub(crate) const QUIET: Duration = Duration::from_millis(25);

/// The running watcher; dropping it stops watching.
pub(crate) struct Watcher {
    _watcher: RecommendedWatcher,
}

fn relevant(event: &notify::Event) -> bool {
    !event.kind.is_access()
        && event.paths.iter().any(|p| {
            p.extension()
                .is_some_and(|ext| ext == "wasm" || ext == "toml")
        })
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
            // Ends when the watcher is dropped (shutdown) and the channel closes.
            while rx.recv().is_ok() {
                while rx.recv_timeout(QUIET).is_ok() {}
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
