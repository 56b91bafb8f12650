//! The worker's hand-off: how it takes work from the shared queue and hands results on.
//!
//! [`Handoff`] keeps three rules in one place:
//! - it takes up to `take` items from the queue at once (a sender waiting on a full
//!   queue is then woken once for many free places, not once per item);
//! - results wait in an outbox and go on in chunks: when a chunk is full, or when the
//!   oldest has waited `linger` (a flood that never lets the queue run empty);
//! - before it waits for the queue, it hands every result on. Another worker may take
//!   what is queued next, so a result held while waiting could be held forever — the
//!   lost wake-up this type exists to rule out.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A worker's inbox and outbox over two channels. `L` is told of results that could
/// not be handed on because the receiving side has gone.
pub(crate) struct Handoff<I, O, L: FnMut(Vec<O>)> {
    work: async_channel::Receiver<I>,
    out: async_channel::Sender<Vec<O>>,
    /// Items taken from the queue and not yet worked on.
    held: VecDeque<I>,
    take: usize,
    outbox: Vec<O>,
    chunk: usize,
    linger: Duration,
    /// When the oldest result in the outbox was put there.
    since: Option<Instant>,
    lost: L,
}

impl<I, O, L: FnMut(Vec<O>)> Handoff<I, O, L> {
    /// Takes up to `take` items from `work` at once; hands results to `out` in chunks of
    /// up to `chunk`, none waiting longer than `linger` while the worker is busy.
    pub(crate) fn new(
        work: async_channel::Receiver<I>,
        out: async_channel::Sender<Vec<O>>,
        take: usize,
        chunk: usize,
        linger: Duration,
        lost: L,
    ) -> Self {
        Handoff {
            work,
            out,
            held: VecDeque::with_capacity(take),
            take: take.max(1),
            outbox: Vec::with_capacity(chunk),
            chunk: chunk.max(1),
            linger,
            since: None,
            lost,
        }
    }

    /// The next item to work on; `None` once the queue is closed and empty. When nothing
    /// is queued, `idle` runs and every result is handed on before it waits.
    pub(crate) fn next(&mut self, idle: impl FnOnce()) -> Option<I> {
        if let Some(item) = self.held.pop_front() {
            return Some(item);
        }
        let first = match self.work.try_recv() {
            Ok(item) => item,
            Err(_) => {
                idle();
                self.flush();
                self.work.recv_blocking().ok()?
            }
        };
        while self.held.len() + 1 < self.take {
            match self.work.try_recv() {
                Ok(more) => self.held.push_back(more),
                Err(_) => break,
            }
        }
        Some(first)
    }

    /// Puts a result in the outbox.
    pub(crate) fn push(&mut self, result: O) {
        self.outbox.push(result);
    }

    /// After each item: hands the outbox on when it holds a chunk or its oldest result
    /// has waited `linger` (`now` is read only when something waits).
    pub(crate) fn after_item(&mut self, now: impl FnOnce() -> Instant) {
        if self.outbox.is_empty() {
            return;
        }
        if self.outbox.len() >= self.chunk {
            self.flush();
            return;
        }
        let now = now();
        match self.since {
            Some(since) if now.duration_since(since) >= self.linger => self.flush(),
            Some(_) => {}
            None => self.since = Some(now),
        }
    }

    /// Results waiting in the outbox.
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.outbox.len()
    }

    /// Hands every result on now.
    pub(crate) fn flush(&mut self) {
        self.since = None;
        if self.outbox.is_empty() {
            return;
        }
        let chunk = std::mem::replace(&mut self.outbox, Vec::with_capacity(self.chunk));
        if let Err(lost) = self.out.send_blocking(chunk) {
            (self.lost)(lost.into_inner());
        }
    }
}

impl<I, O, L: FnMut(Vec<O>)> Drop for Handoff<I, O, L> {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
#[path = "handoff_tests.rs"]
mod tests;
