//! A [`Ticket`]: an accepted event's claim on its write-ahead log row, finished only
//! when every part of the event is settled.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;

use super::Op;

/// An accepted event's hold on its row in the write-ahead log.
///
/// Every share of a ticket (one per destination an event is routed to) must be
/// [`finish`](Ticket::finish)ed — the event filtered, its entry delivered, its failure
/// written — before the row is trimmed. A share dropped unfinished (a host dropped
/// without a shutdown, a failure that could not be written) keeps the row, and the event
/// is resumed at the next start. A host without a write-ahead log hands out empty
/// tickets, which cost nothing.
#[derive(Debug, Default)]
pub(crate) struct Ticket {
    row: Option<Arc<Row>>,
    finished: bool,
}

#[derive(Debug)]
struct Row {
    seq: i64,
    /// A share was dropped unfinished: the row stays.
    kept: AtomicBool,
    trim: Sender<Op>,
}

impl Drop for Row {
    fn drop(&mut self) {
        if !self.kept.load(Ordering::Acquire) {
            // The writer gone means the host is gone: the row stays, and is resumed.
            let _ = self.trim.send(Op::Finished(self.seq));
        }
    }
}

impl Ticket {
    /// A ticket for row `seq`.
    pub(super) fn new(seq: i64, trim: Sender<Op>) -> Self {
        Ticket {
            row: Some(Arc::new(Row {
                seq,
                kept: AtomicBool::new(false),
                trim,
            })),
            finished: false,
        }
    }

    /// Another share of the same row, for one more destination.
    pub(crate) fn share(&self) -> Self {
        Ticket {
            row: self.row.clone(),
            finished: false,
        }
    }

    /// This share is settled; the row goes once every share is.
    pub(crate) fn finish(mut self) {
        self.finished = true;
    }

    /// The row's sequence number, when it has one.
    pub(crate) fn seq(&self) -> Option<i64> {
        self.row.as_ref().map(|row| row.seq)
    }

    /// Whether this ticket holds a row (the host has a write-ahead log).
    pub(crate) fn is_durable(&self) -> bool {
        self.row.is_some()
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.finished
            && let Some(row) = &self.row
        {
            row.kept.store(true, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket() -> (Ticket, std::sync::mpsc::Receiver<Op>) {
        let (tx, rx) = std::sync::mpsc::channel();
        (Ticket::new(7, tx), rx)
    }

    fn finished(rx: &std::sync::mpsc::Receiver<Op>) -> Vec<i64> {
        rx.try_iter()
            .filter_map(|op| match op {
                Op::Finished(seq) => Some(seq),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_row_goes_once_every_share_is_finished() {
        let (first, rx) = ticket();
        let second = first.share();
        first.finish();
        assert!(finished(&rx).is_empty(), "one share is still out");
        second.finish();
        assert_eq!(finished(&rx), [7]);
    }

    #[test]
    fn a_share_dropped_unfinished_keeps_the_row() {
        let (first, rx) = ticket();
        let second = first.share();
        drop(second);
        first.finish();
        assert!(
            finished(&rx).is_empty(),
            "the row is resumed at the next start"
        );
    }

    #[test]
    fn shares_name_the_same_row() {
        let (first, _rx) = ticket();
        let second = first.share();
        assert_eq!((first.seq(), second.seq()), (Some(7), Some(7)));
        assert_eq!(Ticket::default().seq(), None);
        first.finish();
        second.finish();
    }
}
