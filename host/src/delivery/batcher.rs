//! The [`Batcher`]: groups routed events per bus into `PutEvents`-sized batches.
//!
//! A batch holds at most [`BatchLimits::max_entries`] entries (EventBridge's limit is 10)
//! and at most [`BatchLimits::max_bytes`] as EventBridge sums entry sizes (see
//! [`Event::entry_size`]). A batch goes out when the next entry would not fit, or when its
//! oldest entry has waited [`BatchLimits::linger`], so batches fill under load while a
//! lone event still leaves promptly.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::event::Event;
use crate::journal::Ticket;

/// The most entries EventBridge takes in one `PutEvents` call.
pub const MAX_ENTRIES: usize = 10;
/// EventBridge's `PutEvents` request-size limit for event buses since January 2026.
pub const MAX_BYTES_1MB: usize = 1024 * 1024;
/// EventBridge's former `PutEvents` request-size limit.
pub const MAX_BYTES_256KB: usize = 256 * 1024;

/// Limits a batch must respect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Most entries per batch, 1 to [`MAX_ENTRIES`].
    pub max_entries: usize,
    /// Most bytes per batch, summed as EventBridge does.
    pub max_bytes: usize,
    /// Longest the first entry of a batch waits for others.
    pub linger: Duration,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            max_entries: MAX_ENTRIES,
            max_bytes: MAX_BYTES_1MB,
            linger: Duration::from_millis(5),
        }
    }
}

/// A batch of entries for one bus.
#[derive(Debug)]
pub(crate) struct Batch {
    /// The bus name or ARN.
    pub bus: String,
    /// The entries, in arrival order.
    pub entries: Vec<Event>,
    /// Each entry's hold on its event's write-ahead log row, in the same order.
    pub tickets: Vec<Ticket>,
    /// Their summed EventBridge size.
    pub bytes: usize,
}

/// An entry that can never be sent: alone it exceeds the request-size limit.
#[derive(Debug)]
pub(super) struct Oversize {
    /// The bus it was bound for.
    pub bus: String,
    /// The entry.
    pub event: Event,
    /// Its hold on its event's write-ahead log row.
    pub ticket: Ticket,
    /// Its EventBridge size.
    pub bytes: usize,
    /// The limit it exceeds.
    pub limit: usize,
}

struct Pending {
    batch: Batch,
    since: Instant,
}

/// Groups events per bus into batches.
pub(super) struct Batcher {
    limits: BatchLimits,
    pending: HashMap<String, Pending>,
}

impl Batcher {
    /// A batcher with `limits`; `max_entries` is clamped to 1..=[`MAX_ENTRIES`].
    pub(super) fn new(mut limits: BatchLimits) -> Self {
        limits.max_entries = limits.max_entries.clamp(1, MAX_ENTRIES);
        Batcher {
            limits,
            pending: HashMap::new(),
        }
    }

    /// Adds `event` for `bus`. Returns the batches that are ready: the bus's previous
    /// batch if `event` did not fit in it, and the new one if it is now full.
    pub(super) fn push(
        &mut self,
        bus: &str,
        event: Event,
        ticket: Ticket,
        now: Instant,
    ) -> Result<Vec<Batch>, Box<Oversize>> {
        let bytes = event.entry_size();
        if bytes > self.limits.max_bytes {
            return Err(Box::new(Oversize {
                bus: bus.to_string(),
                event,
                ticket,
                bytes,
                limit: self.limits.max_bytes,
            }));
        }
        let mut ready = Vec::new();
        if let Some(pending) = self.pending.get(bus)
            && pending.batch.bytes + bytes > self.limits.max_bytes
        {
            ready.extend(self.pending.remove(bus).map(|p| p.batch));
        }
        let pending = self
            .pending
            .entry(bus.to_string())
            .or_insert_with(|| Pending {
                batch: Batch {
                    bus: bus.to_string(),
                    entries: Vec::with_capacity(self.limits.max_entries),
                    tickets: Vec::with_capacity(self.limits.max_entries),
                    bytes: 0,
                },
                since: now,
            });
        pending.batch.entries.push(event);
        pending.batch.tickets.push(ticket);
        pending.batch.bytes += bytes;
        if pending.batch.entries.len() >= self.limits.max_entries {
            ready.extend(self.pending.remove(bus).map(|p| p.batch));
        }
        Ok(ready)
    }

    /// When the oldest pending batch is due, if any is pending.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.pending
            .values()
            .map(|p| p.since + self.limits.linger)
            .min()
    }

    /// Takes the batches whose linger has expired at `now`.
    pub(super) fn take_due(&mut self, now: Instant) -> Vec<Batch> {
        let linger = self.limits.linger;
        let due: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| p.since + linger <= now)
            .map(|(bus, _)| bus.clone())
            .collect();
        due.into_iter()
            .filter_map(|bus| self.pending.remove(&bus).map(|p| p.batch))
            .collect()
    }

    /// Takes every pending batch, due or not.
    pub(super) fn drain(&mut self) -> Vec<Batch> {
        self.pending.drain().map(|(_, p)| p.batch).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(detail_len: usize) -> Event {
        Event {
            id: "id".into(),
            source: "s".into(),
            detail_type: "d".into(),
            time: String::new(),
            resources: Vec::new(),
            detail: "x".repeat(detail_len),
        }
    }

    #[test]
    fn ten_entries_make_a_batch() {
        let mut b = Batcher::new(BatchLimits::default());
        let now = Instant::now();
        for _ in 0..9 {
            assert!(
                b.push("bus", event(10), Ticket::default(), now)
                    .unwrap()
                    .is_empty()
            );
        }
        let ready = b.push("bus", event(10), Ticket::default(), now).unwrap();
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].entries.len(), 10);
        assert!(b.drain().is_empty());
    }

    #[test]
    fn size_limit_splits_batches() {
        let limits = BatchLimits {
            max_bytes: 100,
            ..BatchLimits::default()
        };
        let mut b = Batcher::new(limits);
        let now = Instant::now();
        // Each entry is 2 + 40 = 42 bytes: two fit in 100, the third starts a new batch.
        assert!(
            b.push("bus", event(40), Ticket::default(), now)
                .unwrap()
                .is_empty()
        );
        assert!(
            b.push("bus", event(40), Ticket::default(), now)
                .unwrap()
                .is_empty()
        );
        let ready = b.push("bus", event(40), Ticket::default(), now).unwrap();
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].entries.len(), 2);
        assert_eq!(ready[0].bytes, 84);
        assert_eq!(b.drain()[0].entries.len(), 1);
    }

    #[test]
    fn oversize_entry_fails_alone() {
        let limits = BatchLimits {
            max_bytes: 100,
            ..BatchLimits::default()
        };
        let mut b = Batcher::new(limits);
        let now = Instant::now();
        b.push("bus", event(10), Ticket::default(), now).unwrap();
        let err = b
            .push("bus", event(99), Ticket::default(), now)
            .unwrap_err();
        assert_eq!((err.bytes, err.limit), (101, 100));
        assert_eq!(
            b.drain()[0].entries.len(),
            1,
            "the neighbour is not blocked"
        );
    }

    #[test]
    fn buses_batch_separately_and_linger_expires() {
        let mut b = Batcher::new(BatchLimits::default());
        let t0 = Instant::now();
        b.push("a", event(1), Ticket::default(), t0).unwrap();
        b.push(
            "b",
            event(1),
            Ticket::default(),
            t0 + Duration::from_millis(3),
        )
        .unwrap();
        assert_eq!(b.next_due(), Some(t0 + Duration::from_millis(5)));
        let due = b.take_due(t0 + Duration::from_millis(5));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].bus, "a");
        assert_eq!(b.drain()[0].bus, "b");
    }

    /// Random event sizes and buses, both request-size limits: no batch breaks a limit,
    /// and every event comes out exactly once — in a batch or as oversize.
    #[test]
    fn random_sizes_never_break_a_limit_and_lose_nothing() {
        use crate::delivery::retry::SplitMix64;
        for (seed, max_bytes) in (0..40).flat_map(|s| [(s, MAX_BYTES_1MB), (s, MAX_BYTES_256KB)]) {
            let mut rng = SplitMix64::seeded(seed);
            let mut b = Batcher::new(BatchLimits {
                max_bytes,
                ..BatchLimits::default()
            });
            let now = Instant::now();
            let mut out: Vec<Batch> = Vec::new();
            let mut oversize = Vec::new();
            let n = 200 + (rng.next_u64() % 300) as usize;
            for i in 0..n {
                // Mostly small, some large, a few beyond the limit.
                let len = match rng.next_u64() % 20 {
                    0 => max_bytes + (rng.next_u64() % 1000) as usize,
                    1..=4 => (rng.next_u64() % (max_bytes as u64 / 2)) as usize,
                    _ => (rng.next_u64() % 4000) as usize,
                };
                let bus = ["a", "b", "c"][(rng.next_u64() % 3) as usize];
                let mut e = event(len);
                e.id = i.to_string();
                match b.push(bus, e, Ticket::default(), now) {
                    Ok(ready) => out.extend(ready),
                    Err(o) => oversize.push(o.event.id),
                }
            }
            out.extend(b.drain());
            let mut seen: Vec<usize> = oversize.iter().map(|id| id.parse().unwrap()).collect();
            for batch in &out {
                assert!(!batch.entries.is_empty() && batch.entries.len() <= MAX_ENTRIES);
                let bytes: usize = batch.entries.iter().map(Event::entry_size).sum();
                assert_eq!(bytes, batch.bytes);
                assert!(bytes <= max_bytes, "seed {seed}: {bytes} > {max_bytes}");
                seen.extend(batch.entries.iter().map(|e| e.id.parse::<usize>().unwrap()));
            }
            seen.sort_unstable();
            assert_eq!(
                seen,
                (0..n).collect::<Vec<_>>(),
                "seed {seed}: nothing lost or repeated"
            );
        }
    }
}
