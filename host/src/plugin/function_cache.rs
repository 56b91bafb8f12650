//! Compiled functions kept in memory across reloads (Cranelift's incremental compilation
//! cache): a new version of a plugin recompiles only the functions that changed — its
//! standard library, JSON parser and bindings glue are served from here.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// A bounded in-memory store of compiled functions, keyed by Cranelift's own hash of the
/// function and the compiler settings. When it would grow past its budget it starts over:
/// simple, and a reload after that compiles in full once.
#[derive(Debug)]
pub(crate) struct FunctionCache {
    budget: usize,
    entries: Mutex<Entries>,
    hits: AtomicU64,
    misses: AtomicU64,
}

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<Vec<u8>, Vec<u8>>,
    bytes: usize,
}

impl FunctionCache {
    /// A cache holding at most `budget` bytes of keys and compiled code.
    pub(crate) fn new(budget: usize) -> Self {
        FunctionCache {
            budget,
            entries: Mutex::default(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Functions served from the cache, and functions compiled, so far.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }
}

impl wasmtime::CacheStore for FunctionCache {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let found = entries.map.get(key).cloned();
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found.map(Cow::Owned)
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        let size = key.len() + value.len();
        if size > self.budget {
            return false;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.bytes + size > self.budget {
            entries.map.clear();
            entries.bytes = 0;
        }
        if let Some(old) = entries.map.insert(key.to_vec(), value) {
            entries.bytes -= key.len() + old.len();
        }
        entries.bytes += size;
        true
    }
}

#[cfg(test)]
mod tests {
    use wasmtime::CacheStore;

    use super::FunctionCache;

    #[test]
    fn serves_what_it_stored_and_starts_over_past_its_budget() {
        let cache = FunctionCache::new(100);
        assert!(cache.insert(b"a", vec![1; 40]));
        assert!(cache.insert(b"b", vec![2; 40]));
        assert_eq!(cache.get(b"a").as_deref(), Some(&[1u8; 40][..]));
        assert!(cache.insert(b"c", vec![3; 40]), "over budget: starts over");
        assert!(cache.get(b"a").is_none());
        assert_eq!(cache.get(b"c").as_deref(), Some(&[3u8; 40][..]));
        assert!(
            !cache.insert(b"d", vec![0; 200]),
            "larger than the whole budget"
        );
        assert_eq!(cache.counts(), (2, 1));
    }
}
