//! Each rule of the worker's hand-off on its own: batches taken from the queue, chunks
//! handed on when full or after the linger time, and nothing held while waiting.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Handoff;

const LINGER: Duration = Duration::from_millis(5);

type Lost = Arc<Mutex<Vec<u32>>>;

/// A hand-off with the other ends of its channels and what it reported lost.
struct Rig<L: FnMut(Vec<u32>)> {
    handoff: Handoff<u32, u32, L>,
    work: async_channel::Sender<u32>,
    out: async_channel::Receiver<Vec<u32>>,
    lost: Lost,
}

fn rig(take: usize, chunk: usize) -> Rig<impl FnMut(Vec<u32>)> {
    let (work, work_rx) = async_channel::unbounded();
    let (out_tx, out) = async_channel::unbounded();
    let lost: Lost = Arc::default();
    let lost_to = Arc::clone(&lost);
    let handoff = Handoff::new(work_rx, out_tx, take, chunk, LINGER, move |entries| {
        lost_to.lock().unwrap().extend(entries)
    });
    Rig {
        handoff,
        work,
        out,
        lost,
    }
}

/// Waits for a chunk, for at most a generous while.
fn chunk_within(out: &async_channel::Receiver<Vec<u32>>, what: &str) -> Vec<u32> {
    let give_up = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(chunk) = out.try_recv() {
            return chunk;
        }
        assert!(Instant::now() < give_up, "no chunk arrived: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn the_inbox_takes_up_to_its_batch_at_once_and_serves_them_in_order() {
    let Rig {
        mut handoff, work, ..
    } = rig(16, 64);
    for n in 0..40 {
        work.send_blocking(n).unwrap();
    }
    assert_eq!(handoff.next(|| panic!("work is queued")), Some(0));
    assert_eq!(work.len(), 24, "16 taken at once");
    let rest: Vec<u32> = (1..16)
        .map(|_| handoff.next(|| panic!("work is held")).unwrap())
        .collect();
    assert_eq!(rest, (1..16).collect::<Vec<_>>());
    assert_eq!(
        work.len(),
        24,
        "held items are served before the queue is read again"
    );
    assert_eq!(handoff.next(|| panic!("work is queued")), Some(16));
    assert_eq!(work.len(), 8);
}

#[test]
fn a_full_chunk_is_handed_on_at_once() {
    let Rig {
        mut handoff, out, ..
    } = rig(16, 4);
    let far_future = || panic!("a full chunk goes without looking at the clock");
    for n in 0..3 {
        handoff.push(n);
        handoff.after_item(Instant::now);
    }
    assert!(out.is_empty(), "three of four wait");
    handoff.push(3);
    handoff.after_item(far_future);
    assert_eq!(out.try_recv().unwrap(), [0, 1, 2, 3]);
    assert_eq!(handoff.waiting(), 0);
}

#[test]
fn a_result_waits_no_longer_than_the_linger_time() {
    let Rig {
        mut handoff, out, ..
    } = rig(16, 64);
    let start = Instant::now();
    handoff.push(1);
    handoff.after_item(|| start);
    handoff.push(2);
    handoff.after_item(|| start + LINGER / 2);
    assert!(out.is_empty(), "the oldest has waited half the linger time");
    handoff.push(3);
    handoff.after_item(|| start + LINGER);
    assert_eq!(out.try_recv().unwrap(), [1, 2, 3]);
    // The clock starts again with the next result.
    handoff.push(4);
    handoff.after_item(|| start + LINGER * 3 / 2);
    assert!(out.is_empty());
}

#[test]
fn an_empty_outbox_does_not_read_the_clock() {
    let Rig {
        mut handoff, out, ..
    } = rig(16, 64);
    handoff.after_item(|| panic!("nothing waits"));
    assert!(out.is_empty());
}

#[test]
fn results_are_handed_on_before_the_worker_waits_for_more_work() {
    let Rig {
        mut handoff,
        work,
        out,
        ..
    } = rig(16, 64);
    work.send_blocking(7).unwrap();
    let idle = Arc::new(Mutex::new(0));
    let worker = {
        let idle = Arc::clone(&idle);
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while let Some(item) = handoff.next(|| *idle.lock().unwrap() += 1) {
                seen.push(item);
                handoff.push(item * 10);
                handoff.after_item(Instant::now);
            }
            seen
        })
    };
    // The worker now waits for its next item with one result made; it must not hold it.
    assert_eq!(
        chunk_within(
            &out,
            "the worker held its result while waiting (a lost wake-up)"
        ),
        [70]
    );
    assert!(*idle.lock().unwrap() >= 1, "idle ran before waiting");
    work.send_blocking(8).unwrap();
    assert_eq!(chunk_within(&out, "the second result was held"), [80]);
    drop(work);
    assert_eq!(worker.join().unwrap(), [7, 8]);
}

#[test]
fn idle_runs_only_when_the_queue_is_empty() {
    let Rig {
        mut handoff, work, ..
    } = rig(2, 64);
    for n in 0..3 {
        work.send_blocking(n).unwrap();
    }
    let mut idle = 0;
    for _ in 0..3 {
        handoff.next(|| idle += 1);
    }
    assert_eq!(idle, 0);
    drop(work);
    assert_eq!(handoff.next(|| idle += 1), None);
    assert_eq!(idle, 1);
}

#[test]
fn results_the_receiver_can_no_longer_take_are_reported_lost() {
    let Rig {
        mut handoff,
        out,
        lost,
        ..
    } = rig(16, 64);
    drop(out);
    handoff.push(1);
    handoff.push(2);
    handoff.flush();
    assert_eq!(*lost.lock().unwrap(), [1, 2]);
}

#[test]
fn dropping_the_handoff_hands_on_what_waits() {
    let Rig {
        mut handoff, out, ..
    } = rig(16, 64);
    handoff.push(5);
    handoff.after_item(Instant::now);
    drop(handoff);
    assert_eq!(out.try_recv().unwrap(), [5]);
}
