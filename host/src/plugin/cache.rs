//! The compiled-plugin cache: components compiled once, kept on disk by content hash and
//! engine compatibility, so a restart with unchanged plugins skips Cranelift.
//!
//! An entry is `<content sha256>-<engine hash>.cwasm`, holding the SHA-256 of the
//! compiled bytes followed by the bytes. An entry whose digest does not match, or that
//! wasmtime refuses, is counted as rejected, recompiled and rewritten — never trusted
//! blindly.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// What the cache has done since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheStats {
    /// Components loaded from the cache without compiling.
    pub hits: u64,
    /// Components compiled because the cache had no entry.
    pub misses: u64,
    /// Entries found corrupt or incompatible, then recompiled.
    pub rejected: u64,
    /// Entries written.
    pub stored: u64,
    /// Entries that could not be written (the plugin still loads).
    pub store_errors: u64,
}

/// An on-disk cache of compiled components.
#[derive(Debug)]
pub struct ModuleCache {
    dir: PathBuf,
    hits: AtomicU64,
    misses: AtomicU64,
    rejected: AtomicU64,
    stored: AtomicU64,
    store_errors: AtomicU64,
}

/// The SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn engine_hash(engine: &Engine) -> String {
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

impl ModuleCache {
    /// A cache in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ModuleCache {
            dir: dir.into(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            stored: AtomicU64::new(0),
            store_errors: AtomicU64::new(0),
        }
    }

    /// The cache folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the cache has done so far.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            stored: self.stored.load(Ordering::Relaxed),
            store_errors: self.store_errors.load(Ordering::Relaxed),
        }
    }

    fn entry(&self, engine: &Engine, content_hash: &str) -> PathBuf {
        self.dir
            .join(format!("{content_hash}-{}.cwasm", engine_hash(engine)))
    }

    /// Whether the cache holds an entry for the component whose SHA-256 is
    /// `content_hash`, compiled by `engine` (whether it is sound is checked on loading).
    pub(crate) fn has_entry(&self, engine: &Engine, content_hash: &str) -> bool {
        self.entry(engine, content_hash).is_file()
    }

    /// The compiled component whose bytes hash to `content_hash`: from the cache when a
    /// sound entry exists, else made by `compile` and stored.
    pub(crate) fn load_or_compile(
        &self,
        engine: &Engine,
        content_hash: &str,
        compile: impl FnOnce() -> wasmtime::Result<Component>,
    ) -> wasmtime::Result<Component> {
        let entry = self.entry(engine, content_hash);
        match std::fs::read(&entry) {
            Ok(stored) => match self.deserialize(engine, &stored) {
                Some(component) => {
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(component);
                }
                None => {
                    tracing::warn!(entry = %entry.display(), "corrupt or stale cache entry; recompiling");
                    self.rejected.fetch_add(1, Ordering::Relaxed);
                }
            },
            Err(_) => {
                self.misses.fetch_add(1, Ordering::Relaxed);
            }
        }
        let component = compile()?;
        self.store(&entry, &component);
        Ok(component)
    }

    /// Checks an entry's digest, then lets wasmtime check its header and compatibility.
    fn deserialize(&self, engine: &Engine, stored: &[u8]) -> Option<Component> {
        if stored.len() < 32 {
            return None;
        }
        let (digest, compiled) = stored.split_at(32);
        if Sha256::digest(compiled).as_slice() != digest {
            return None;
        }
        // SAFETY: the bytes are what `Component::serialize` produced for this engine
        // configuration: the file name carries the engine's compatibility hash, and the
        // digest proves the bytes are the ones we wrote. wasmtime checks the header and
        // compatibility again.
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize(engine, compiled) };
        component.ok()
    }

    fn store(&self, entry: &Path, component: &Component) {
        let written = component
            .serialize()
            .map_err(|e| std::io::Error::other(format!("{e:#}")))
            .and_then(|compiled| {
                std::fs::create_dir_all(&self.dir)?;
                let mut contents = Sha256::digest(&compiled).to_vec();
                contents.extend_from_slice(&compiled);
                // Written aside and renamed, so a reader never sees half an entry.
                let partial = entry.with_extension(format!("partial-{}", std::process::id()));
                std::fs::write(&partial, &contents)?;
                std::fs::rename(&partial, entry)
            });
        match written {
            Ok(()) => {
                self.stored.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::warn!(entry = %entry.display(), "could not write a cache entry: {e}");
                self.store_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
