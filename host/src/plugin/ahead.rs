//! Compiling ahead of a reload: a plugin file that arrives complete in a watched folder
//! (renamed in, or closed after writing) starts compiling at once, while the watcher
//! waits for the folder to settle, and the reload that follows takes that build instead
//! of compiling the same bytes again. A swap then costs the longer of the two waits, not
//! their sum.
//!
//! A build made ahead is only ever a shortcut: one that fails, is still running when the
//! reload wants it (the reload waits for it), or was made for another engine, leaves the
//! reload to compile as it always does; one nobody takes is dropped after the next reload.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use super::cache::sha256_hex;
use super::engine::PluginEngine;
use super::loader::{Built, build, check_header};

/// How many files may be compiled ahead at once; further ones are left to the reload.
const MAX_RUNNING: usize = 4;

/// A build made ahead: `None` when it failed (the reload compiles again and reports why).
type Cell = Arc<OnceLock<Option<Built>>>;

/// The builds made ahead of the next reload, by content hash, each with the engine it was
/// made for.
#[derive(Default)]
pub(crate) struct Ahead {
    builds: Mutex<HashMap<String, (wasmtime::Engine, Cell)>>,
    running: AtomicUsize,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Ahead {
    /// Starts compiling the plugin `file` for `engine` on a thread of its own, unless its
    /// bytes are one of `running` (content hashes of the plugins running now: nothing to
    /// compile) or already being compiled ahead.
    pub(crate) fn start(
        self: &Arc<Self>,
        engine: &PluginEngine,
        file: &Path,
        running: Vec<String>,
    ) {
        if self.running.fetch_add(1, Ordering::SeqCst) >= MAX_RUNNING {
            self.running.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        let (ahead, engine, file) = (Arc::clone(self), engine.clone(), PathBuf::from(file));
        let spawned = std::thread::Builder::new()
            .name("logbridge-ahead".into())
            .spawn(move || {
                ahead.compile(&engine, &file, &running);
                ahead.running.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(e) = spawned {
            self.running.fetch_sub(1, Ordering::SeqCst);
            tracing::debug!(
                "could not start compiling a plugin ahead; the reload compiles it: {e}"
            );
        }
    }

    /// Compiles the plugin `file` for `engine` here, and keeps the build for the reload
    /// (see [`Ahead::start`]).
    pub(crate) fn compile(&self, engine: &PluginEngine, file: &Path, running: &[String]) {
        let Ok(bytes) = std::fs::read(file) else {
            return;
        };
        if check_header(file, &bytes).is_err() {
            return;
        }
        let hash = sha256_hex(&bytes);
        if running.contains(&hash) {
            return;
        }
        let cell = match lock(&self.builds).entry(hash.clone()) {
            Entry::Occupied(_) => return,
            Entry::Vacant(vacant) => {
                let cell = Cell::default();
                vacant.insert((engine.engine().clone(), Arc::clone(&cell)));
                cell
            }
        };
        cell.get_or_init(|| match build(engine, file, &bytes, &hash) {
            Ok(built) => Some(built),
            Err(e) => {
                tracing::debug!(file = %file.display(), "compiling ahead failed; the reload will say why: {e}");
                None
            }
        });
    }

    /// The build made ahead of the component whose bytes hash to `hash`, for `engine`,
    /// waiting for it when it is still being compiled; `None` when there is none (or it
    /// failed, or was made for another engine).
    pub(crate) fn take(&self, engine: &PluginEngine, hash: &str) -> Option<Built> {
        let (made_for, cell) = lock(&self.builds).remove(hash)?;
        if !wasmtime::Engine::same(&made_for, engine.engine()) {
            return None;
        }
        // A build not started yet is not waited for: marking it done makes the compiling
        // thread skip it, and the caller compiles.
        cell.get_or_init(|| None).clone()
    }

    /// Drops the finished builds nobody took (their files changed again, or went away);
    /// builds still running are kept for the next reload.
    pub(crate) fn forget_finished(&self) {
        lock(&self.builds).retain(|_, (_, cell)| cell.get().is_none());
    }

    /// How many builds made ahead are waiting to be taken or still running.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        lock(&self.builds).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::{CompiledPlugin, PluginLimits};

    /// A component holding one core module with one function: it compiles (one function
    /// through the function cache), and is no plugin (no role export).
    fn component() -> Vec<u8> {
        let mut bytes = b"\0asm\x0d\0\x01\0".to_vec(); // component header
        bytes.push(1); // core module section
        bytes.push(u8::try_from(crate::plugin::ONE_FUNCTION_MODULE.len()).unwrap());
        bytes.extend_from_slice(crate::plugin::ONE_FUNCTION_MODULE);
        bytes
    }

    /// A folder of its own for one test, with `name` written into it.
    fn file(test: &str, name: &str, bytes: &[u8]) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("logbridge-ahead-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(name);
        std::fs::write(&file, bytes).unwrap();
        file
    }

    #[test]
    fn a_load_takes_the_build_made_ahead_instead_of_compiling() {
        let file = file("taken", "p.wasm", &component());
        let bytes = std::fs::read(&file).unwrap();
        let engine = PluginEngine::new(PluginLimits::default()).unwrap();
        let ahead = engine.tiering().ahead();
        ahead.compile(&engine, &file, &[]);
        assert_eq!(ahead.len(), 1, "the build is kept for the reload");
        let (_, compiled) = engine.function_cache_counts();
        assert!(compiled > 0, "compiling ahead compiled nothing");
        // Not a plugin (no role), but the load gets as far as the compiled component.
        let error = CompiledPlugin::from_bytes(&engine, &file, &bytes, Vec::new()).unwrap_err();
        assert!(error.to_string().contains("p.wasm"), "{error}");
        assert_eq!(
            engine.function_cache_counts().1,
            compiled,
            "the load compiled again"
        );
        assert_eq!(ahead.len(), 0, "the build was taken");
        // Without a build made ahead, the same load compiles.
        let fresh = PluginEngine::new(PluginLimits::default()).unwrap();
        let _ = CompiledPlugin::from_bytes(&fresh, &file, &bytes, Vec::new());
        assert!(fresh.function_cache_counts().1 > 0);
        let _ = std::fs::remove_dir_all(file.parent().unwrap());
    }

    #[test]
    fn bytes_already_running_or_not_a_component_are_not_compiled_ahead() {
        let bytes = component();
        let file = file("skipped", "p.wasm", &bytes);
        let engine = PluginEngine::new(PluginLimits::default()).unwrap();
        let ahead = Ahead::default();
        ahead.compile(&engine, &file, &[sha256_hex(&bytes)]);
        assert_eq!(ahead.len(), 0);
        let junk = file.with_file_name("junk.wasm");
        std::fs::write(&junk, b"not wasm").unwrap();
        ahead.compile(&engine, &junk, &[]);
        ahead.compile(&engine, &file.with_file_name("gone.wasm"), &[]);
        assert_eq!(ahead.len(), 0);
        assert_eq!(
            engine.function_cache_counts().1,
            0,
            "something was compiled"
        );
        let _ = std::fs::remove_dir_all(file.parent().unwrap());
    }

    #[test]
    fn a_failed_build_leaves_the_load_to_compile_and_say_why() {
        let engine = PluginEngine::new(PluginLimits::default()).unwrap();
        let ahead = Ahead::default();
        // A component header and nothing valid after it.
        let broken = file("failed", "broken.wasm", b"\0asm\x0d\0\x01\0\xff\xff");
        ahead.compile(&engine, &broken, &[]);
        let hash = sha256_hex(&std::fs::read(&broken).unwrap());
        assert!(ahead.take(&engine, &hash).is_none());
        let error = CompiledPlugin::load(&engine, &broken)
            .unwrap_err()
            .to_string();
        assert!(error.contains("does not compile"), "{error}");
        let _ = std::fs::remove_dir_all(broken.parent().unwrap());
    }

    #[test]
    fn a_build_for_another_engine_is_not_taken_and_one_left_over_is_dropped() {
        let bytes = component();
        let file = file("other", "p.wasm", &bytes);
        let engine = PluginEngine::new(PluginLimits::default()).unwrap();
        let other = PluginEngine::new(PluginLimits::default()).unwrap();
        let ahead = Ahead::default();
        ahead.compile(&engine, &file, &[]);
        assert!(ahead.take(&other, &sha256_hex(&bytes)).is_none());
        ahead.compile(&engine, &file, &[]);
        assert_eq!(ahead.len(), 1);
        ahead.forget_finished();
        assert_eq!(ahead.len(), 0, "a finished build nobody took is dropped");
        let _ = std::fs::remove_dir_all(file.parent().unwrap());
    }
}
