//! Fast first loads of large plugins: a component of at least
//! [`PluginLimits::fast_first_compile_bytes`](super::PluginLimits) that is not in the
//! compiled-plugin cache is compiled first by Winch, wasmtime's baseline compiler (one
//! pass, no optimization: several times faster to compile, slower to run), and serves
//! events at once. Cranelift's optimized build is compiled meanwhile on a thread of its
//! own, stored in the cache, and swapped in by the host's reload machinery: the plugin's
//! events never wait for it and none is lost.
//!
//! Tiering is on only for a host that listens for optimized builds (one with a plugins
//! folder, which it can reload); everything else compiles with Cranelift, as before.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use wasmtime::component::Component;

use super::engine::PluginEngine;

/// Which compiler made a loaded plugin's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Compiler {
    /// Cranelift, the optimizing compiler: what every plugin runs on in the end.
    Cranelift,
    /// Winch, the baseline compiler: a large plugin's first build, until Cranelift's is
    /// ready.
    Winch,
}

impl std::fmt::Display for Compiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Compiler::Cranelift => "cranelift",
            Compiler::Winch => "winch",
        })
    }
}

/// What the engines of one host share about tiering.
#[derive(Default)]
pub(crate) struct Tiering {
    /// The baseline engine, built on first use and again when the host's pool grew
    /// (`Err`: Winch cannot run these plugins' settings here, and everything is compiled
    /// by Cranelift). Plugins built on an earlier one keep it.
    baseline: Mutex<Option<Result<PluginEngine, String>>>,
    /// Optimized builds finished in the background, by content hash.
    ready: Mutex<HashMap<String, Component>>,
    /// Content hashes being compiled in the background.
    compiling: Mutex<HashSet<String>>,
    /// Told the content hash of each optimized build that is ready; tiering is on while
    /// it is set.
    listener: Mutex<Option<UnboundedSender<String>>>,
    /// Builds made ahead of the next reload (see [`super::ahead`]).
    ahead: Arc<super::ahead::Ahead>,
}

impl std::fmt::Debug for Tiering {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tiering").finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Tiering {
    /// Turns tiering on: the receiver is told the content hash of each optimized build
    /// as it becomes ready, for the host to reload.
    pub(crate) fn listen(&self) -> UnboundedReceiver<String> {
        let (tx, rx) = unbounded_channel();
        *lock(&self.listener) = Some(tx);
        rx
    }

    /// The builds made ahead of the next reload.
    pub(crate) fn ahead(&self) -> &Arc<super::ahead::Ahead> {
        &self.ahead
    }

    /// Whether tiering is on.
    pub(crate) fn on(&self) -> bool {
        lock(&self.listener)
            .as_ref()
            .is_some_and(|tx| !tx.is_closed())
    }

    /// The baseline engine like `engine`, with a pool at least as large.
    pub(crate) fn baseline(&self, engine: &PluginEngine) -> Result<PluginEngine, String> {
        let mut baseline = lock(&self.baseline);
        let fits = match baseline.as_ref() {
            Some(Ok(built)) => built.limits().max_instances >= engine.limits().max_instances,
            Some(Err(_)) => true,
            None => false,
        };
        if !fits {
            *baseline = Some(PluginEngine::baseline_for(engine.limits()).map_err(|e| {
                tracing::warn!(
                    "the baseline compiler is not available; large plugins are compiled by \
                     Cranelift: {e}"
                );
                e.to_string()
            }));
        }
        baseline.clone().expect("set above")
    }

    /// The optimized build of the component whose bytes hash to `hash`, for `engine`,
    /// when one finished in the background (taken: the caller holds it from now on).
    pub(crate) fn take_ready(&self, engine: &PluginEngine, hash: &str) -> Option<Component> {
        let mut ready = lock(&self.ready);
        let same = ready
            .get(hash)
            .is_some_and(|c| wasmtime::Engine::same(c.engine(), engine.engine()));
        if same { ready.remove(hash) } else { None }
    }

    /// Whether an optimized build of `hash` is ready.
    pub(crate) fn is_ready(&self, hash: &str) -> bool {
        lock(&self.ready).contains_key(hash)
    }

    /// Compiles `bytes` (plugin `file`, content hash `hash`) with `engine`'s optimizing
    /// compiler on a thread of its own, into the compiled-plugin cache when there is one,
    /// then tells the listener. Once per hash at a time.
    pub(crate) fn optimize_in_background(
        self: &Arc<Self>,
        engine: &PluginEngine,
        file: &Path,
        bytes: Vec<u8>,
        hash: String,
    ) {
        if !lock(&self.compiling).insert(hash.clone()) {
            return;
        }
        let marked = hash.clone();
        let (tiering, engine, file) = (Arc::clone(self), engine.clone(), PathBuf::from(file));
        let spawned = std::thread::Builder::new()
            .name("logbridge-optimize".into())
            .spawn(move || {
                // On a pool of its own: in the shared one, the compile jobs of a plugin
                // loaded meanwhile (a Winch build, a swap) would queue behind these.
                let compile = || in_background(|| super::loader::compile(&engine, &file, &bytes));
                let compiled = match engine.cache() {
                    Some(cache) => cache.load_or_compile(engine.engine(), &hash, compile),
                    None => compile(),
                };
                lock(&tiering.compiling).remove(&hash);
                match compiled {
                    Ok(component) => {
                        lock(&tiering.ready).insert(hash.clone(), component);
                        if let Some(tx) = lock(&tiering.listener).as_ref() {
                            let _ = tx.send(hash);
                        }
                    }
                    Err(e) => tracing::warn!(
                        file = %file.display(),
                        "the optimized build of a plugin failed; it keeps running on its baseline build: {e:#}"
                    ),
                }
            });
        if let Err(e) = spawned {
            lock(&self.compiling).remove(&marked);
            tracing::warn!(
                "could not start compiling an optimized build; the plugin keeps its baseline build: {e}"
            );
        }
    }
}

/// Runs `work` on the threads of the optimized builds (see [`background_pool`]).
fn in_background<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    match background_pool() {
        Some(pool) => pool.install(work),
        None => work(),
    }
}

/// How much lower than the host's other threads the optimized builds run (a `nice`
/// increment): what is serving events, or being loaded, goes first.
const BACKGROUND_NICENESS: i32 = 5;

/// The threads optimized builds are compiled on: apart from the shared pool that
/// compiles everything a host waits for, half the cores (at least one), at a lower
/// priority. `None` when the threads could not be started (builds then use the shared
/// pool).
fn background_pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1));
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("logbridge-optimize-{i}"))
            // On Linux a nice value is per thread: only these threads are lowered.
            .start_handler(|_| {
                let _ = rustix::process::nice(BACKGROUND_NICENESS);
            })
            .build()
            .map_err(|e| {
                tracing::warn!(
                    "could not start the threads for optimized builds; they share the \
                     compile threads: {e}"
                )
            })
            .ok()
    })
    .as_ref()
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Condvar, Mutex};

    use super::*;

    #[test]
    fn optimized_builds_run_on_their_own_lower_priority_threads() {
        let ours = rustix::process::getpriority_process(None).unwrap();
        let (name, priority) = in_background(|| {
            (
                std::thread::current().name().map(str::to_owned),
                rustix::process::getpriority_process(None).unwrap(),
            )
        });
        assert!(
            name.as_deref()
                .is_some_and(|n| n.starts_with("logbridge-optimize")),
            "ran on {name:?}"
        );
        assert!(
            priority > ours || priority == 19,
            "nice {priority} against {ours}"
        );
    }

    #[test]
    fn a_busy_optimized_build_leaves_the_shared_compile_threads_free() {
        let pool = background_pool().expect("threads for optimized builds");
        // Every thread of the optimized builds held, as by a long build.
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let held = Arc::new(std::sync::Barrier::new(pool.current_num_threads() + 1));
        for _ in 0..pool.current_num_threads() {
            let (gate, held) = (Arc::clone(&gate), Arc::clone(&held));
            pool.spawn(move || {
                held.wait();
                let (open, opened) = &*gate;
                let mut open = open.lock().unwrap();
                while !*open {
                    open = opened.wait(open).unwrap();
                }
            });
        }
        held.wait();
        // Were the threads shared, the compile below would wait for the gate: it opens by
        // itself after a minute, so that shows as a failure, not a hang.
        let opener = {
            let gate = Arc::clone(&gate);
            std::thread::spawn(move || {
                let (open, opened) = &*gate;
                let guard = open.lock().unwrap();
                let (mut guard, _) = opened
                    .wait_timeout_while(guard, std::time::Duration::from_secs(60), |open| !*open)
                    .unwrap();
                *guard = true;
                opened.notify_all();
            })
        };
        // A compile the host waits for (its jobs go to the shared threads).
        let module = wasmtime::Module::new(
            &wasmtime::Engine::default(),
            crate::plugin::ONE_FUNCTION_MODULE,
        );
        let (open, opened) = &*gate;
        let was_open = std::mem::replace(&mut *open.lock().unwrap(), true);
        opened.notify_all();
        opener.join().unwrap();
        module.expect("a module compiles");
        assert!(
            !was_open,
            "the compile waited for the optimized builds' threads"
        );
    }
}
