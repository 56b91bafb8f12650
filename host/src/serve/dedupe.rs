//! De-duplication by `log_id` within a window: Auth0 delivers at least once, so a record
//! whose id was taken recently is dropped, and a claim still pending tells a second
//! request to retry later. With a write-ahead log the ids taken are kept with the records
//! and remembered again after a restart.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The `log_id`s taken recently, to drop what an at-least-once sender sends twice.
///
/// A claim is pending until the record is queued, and released if it never is — even
/// when the request is dropped half-way (the sender hung up): a retry must find it free,
/// not a duplicate. A second request for an id still pending is told to retry later.
#[derive(Debug)]
pub(crate) struct Dedupe {
    window: Duration,
    capacity: usize,
    seen: Mutex<Seen>,
}

/// What [`Dedupe::claim`] found.
#[derive(Debug)]
pub(crate) enum Claim<'a> {
    /// The id is this request's; commit the guard once the record is queued.
    New(ClaimGuard<'a>),
    /// The id was taken within the window: a duplicate.
    Duplicate,
    /// Another request holds the id and has not queued it yet: retry later.
    Pending,
}

/// A pending claim; released on drop unless committed.
#[derive(Debug)]
pub(crate) struct ClaimGuard<'a> {
    dedupe: &'a Dedupe,
    id: String,
    committed: bool,
}

impl ClaimGuard<'_> {
    /// The record was queued: the id stays taken for the window.
    pub(crate) fn commit(mut self) {
        if let Some(entry) = self.dedupe.lock().at.get_mut(&self.id) {
            entry.1 = true;
        }
        self.committed = true;
    }
}

impl Drop for ClaimGuard<'_> {
    fn drop(&mut self) {
        if !self.committed {
            self.dedupe.lock().at.remove(&self.id);
        }
    }
}

/// Ids longer than this are not remembered (no Auth0 log id comes near it).
const MAX_ID_BYTES: usize = 256;

#[derive(Debug, Default)]
struct Seen {
    /// When each id was claimed, and whether its record was queued.
    at: HashMap<String, (Instant, bool)>,
    /// Claims in the order they were made; an entry whose id was released (or claimed
    /// again later) no longer matches `at` and is skipped.
    order: VecDeque<(Instant, String)>,
}

impl Seen {
    fn forget_oldest(&mut self) {
        if let Some((at, id)) = self.order.pop_front()
            && self.at.get(&id).is_some_and(|(when, _)| *when == at)
        {
            self.at.remove(&id);
        }
    }
}

impl Dedupe {
    /// Remembers up to `capacity` ids for `window` each; a zero window remembers nothing.
    pub(crate) fn new(window: Duration, capacity: usize) -> Self {
        Dedupe {
            window,
            capacity,
            seen: Mutex::default(),
        }
    }

    /// Remembers ids taken before a restart: `(id, when in ms since the Unix epoch)`,
    /// newest first. Those older than the window, or past the capacity, are not.
    pub(crate) fn remember(&self, taken: Vec<(String, u64)>) {
        if self.window.is_zero() || self.capacity == 0 {
            return;
        }
        let now = Instant::now();
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut seen = self.lock();
        let recent = taken
            .into_iter()
            .filter(|(id, _)| id.len() <= MAX_ID_BYTES)
            .map_while(|(id, at)| {
                let age = Duration::from_millis(now_ms.saturating_sub(at));
                (age < self.window).then(|| (id, now.checked_sub(age).unwrap_or(now)))
            })
            .take(self.capacity)
            .collect::<Vec<_>>();
        // Oldest first, as claims are made.
        for (id, at) in recent.into_iter().rev() {
            if seen.at.insert(id.clone(), (at, true)).is_none() {
                seen.order.push_back((at, id));
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Claims `id` for a record about to be queued.
    pub(crate) fn claim(&self, id: &str) -> Claim<'_> {
        let guard = |remembered: bool| {
            Claim::New(ClaimGuard {
                dedupe: self,
                id: id.to_string(),
                // An id not remembered has nothing to release.
                committed: !remembered,
            })
        };
        if self.window.is_zero() || self.capacity == 0 || id.len() > MAX_ID_BYTES {
            return guard(false);
        }
        let now = Instant::now();
        let mut seen = self.lock();
        while seen
            .order
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) >= self.window)
        {
            seen.forget_oldest();
        }
        match seen.at.get(id) {
            Some((_, true)) => return Claim::Duplicate,
            Some((_, false)) => return Claim::Pending,
            None => {}
        }
        while (seen.at.len() >= self.capacity || seen.order.len() >= 2 * self.capacity)
            && !seen.order.is_empty()
        {
            seen.forget_oldest();
        }
        seen.at.insert(id.to_string(), (now, false));
        seen.order.push_back((now, id.to_string()));
        drop(seen);
        guard(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken(claim: Claim<'_>) -> bool {
        match claim {
            Claim::New(guard) => {
                guard.commit();
                true
            }
            _ => false,
        }
    }

    #[test]
    fn a_log_id_is_taken_once_within_the_window() {
        let dedupe = Dedupe::new(Duration::from_secs(60), 10);
        assert!(taken(dedupe.claim("a")));
        assert!(matches!(dedupe.claim("a"), Claim::Duplicate));
        assert!(taken(Dedupe::new(Duration::ZERO, 10).claim("a")));
    }

    #[test]
    fn a_claim_never_committed_is_released_and_a_pending_one_is_not_a_duplicate() {
        let dedupe = Dedupe::new(Duration::from_secs(60), 10);
        let first = dedupe.claim("a");
        assert!(
            matches!(dedupe.claim("a"), Claim::Pending),
            "retry later, not a duplicate"
        );
        drop(first); // the request went away before the record was queued
        assert!(taken(dedupe.claim("a")), "free again");
        assert!(matches!(dedupe.claim("a"), Claim::Duplicate));
    }

    #[test]
    fn ids_taken_before_a_restart_are_duplicates_within_the_window() {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let dedupe = Dedupe::new(Duration::from_secs(60), 10);
        dedupe.remember(vec![
            ("new".into(), now_ms - 1_000),
            ("old".into(), now_ms - 120_000),
        ]);
        assert!(matches!(dedupe.claim("new"), Claim::Duplicate));
        assert!(taken(dedupe.claim("old")), "taken outside the window");
        let small = Dedupe::new(Duration::from_secs(60), 1);
        small.remember(vec![("b".into(), now_ms), ("a".into(), now_ms - 5)]);
        assert!(matches!(small.claim("b"), Claim::Duplicate));
        assert!(
            taken(small.claim("a")),
            "past the capacity: the newest are kept"
        );
    }

    #[test]
    fn the_oldest_ids_go_first_past_capacity() {
        let dedupe = Dedupe::new(Duration::from_secs(60), 2);
        assert!(taken(dedupe.claim("a")));
        assert!(taken(dedupe.claim("b")));
        assert!(taken(dedupe.claim("c")), "a is forgotten to make room");
        assert!(taken(dedupe.claim("a")));
        assert!(matches!(dedupe.claim("c"), Claim::Duplicate));
    }
}
