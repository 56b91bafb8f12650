use super::*;
use crate::scratch::Scratch;

/// A fresh folder of its own for each test, removed after it.
fn scratch(name: &str) -> Scratch {
    Scratch::new(&format!("journal-{name}"))
}

fn event(id: &str) -> Event {
    Event {
        id: id.to_string(),
        source: "logbridge.auth0".into(),
        detail_type: "Auth0 log".into(),
        time: "2026-11-01T00:00:00Z".into(),
        resources: if id == "r" {
            vec!["arn:aws:x".into()]
        } else {
            Vec::new()
        },
        detail: format!(r#"{{"log_id":"{id}","data":{{}}}}"#),
    }
}

fn ids(recovered: &Recovered) -> Vec<String> {
    recovered.events.iter().map(|(e, _)| e.id.clone()).collect()
}

/// Lets every ticket of `recovered` go unfinished, so its rows stay.
fn keep(recovered: Recovered) {
    drop(recovered.events);
}

#[tokio::test]
async fn unsettled_events_are_resumed_in_order_and_settled_ones_are_not() {
    let dir = scratch("resume");
    let (journal, recovered) = Journal::open(&dir).unwrap();
    assert!(recovered.events.is_empty());
    let tickets = journal
        .append(vec![event("a"), event("b"), event("r")], Vec::new(), None)
        .await
        .unwrap();
    assert_eq!(journal.report().pending, 3);
    assert_eq!(journal.report().fsyncs, 1, "one append, one commit");
    let mut tickets = tickets.into_iter();
    let (_, a) = tickets.next().unwrap();
    a.finish();
    // b is dropped unfinished (a host gone without a shutdown); r is still out.
    let rest: Vec<_> = tickets.collect();
    journal.flush();
    assert_eq!(journal.report().pending, 2);
    drop(rest);
    drop(journal);

    let (journal, recovered) = Journal::open(&dir).unwrap();
    assert_eq!(ids(&recovered), ["b", "r"]);
    assert_eq!(recovered.events[1].0, event("r"), "every field comes back");
    assert_eq!(recovered.in_flight, 0);
    assert_eq!(journal.report().recovered, 2);
    let more = journal
        .append(vec![event("c")], Vec::new(), None)
        .await
        .unwrap();
    for (_, ticket) in recovered.events.into_iter().chain(more) {
        ticket.finish();
    }
    journal.flush();
    assert_eq!(journal.report().pending, 0);
    drop(journal);
    let (_journal, recovered) = Journal::open(&dir).unwrap();
    assert!(recovered.events.is_empty(), "{:?}", ids(&recovered));
}

#[tokio::test]
async fn rows_a_call_may_have_carried_come_back_as_possible_duplicates() {
    let dir = scratch("sent");
    let (journal, _) = Journal::open(&dir).unwrap();
    let tickets = journal
        .append(vec![event("a"), event("b")], Vec::new(), None)
        .await
        .unwrap();
    let first = tickets[0].1.seq().unwrap();
    journal.note_sent(first).await;
    drop(tickets);
    drop(journal);
    let (journal, recovered) = Journal::open(&dir).unwrap();
    assert_eq!(
        recovered.in_flight, 2,
        "noted ahead: both may have been carried"
    );
    assert_eq!(journal.report().possible_duplicates, 2);
    // New rows come after the note: not counted until a call may carry them.
    let more = journal
        .append(vec![event("c")], Vec::new(), None)
        .await
        .unwrap();
    assert!(more[0].1.seq().unwrap() > first + SENT_AHEAD);
    drop(more);
    keep(recovered);
    drop(journal);
    let (_journal, recovered) = Journal::open(&dir).unwrap();
    assert_eq!(ids(&recovered), ["a", "b", "c"]);
    assert_eq!(recovered.in_flight, 2);
    keep(recovered);
}

#[tokio::test]
async fn ids_taken_and_input_positions_survive_a_restart() {
    let dir = scratch("seen");
    let (journal, _) = Journal::open(&dir).unwrap();
    let mark = InputPosition {
        key: "logs.ndjson".into(),
        offset: 120,
        line: 3,
    };
    let tickets = journal
        .append(
            vec![event("x")],
            vec!["x".into(), "y".into()],
            Some(mark.clone()),
        )
        .await
        .unwrap();
    for (_, t) in tickets {
        t.finish();
    }
    journal.forget_input("other");
    drop(journal);
    let (journal, recovered) = Journal::open(&dir).unwrap();
    let mut seen: Vec<_> = recovered.seen.iter().map(|(id, _)| id.as_str()).collect();
    seen.sort_unstable();
    assert_eq!(seen, ["x", "y"]);
    assert_eq!(recovered.inputs.get("logs.ndjson"), Some(&mark));
    journal.forget_input("logs.ndjson");
    drop(journal);
    let (_journal, recovered) = Journal::open(&dir).unwrap();
    assert!(recovered.inputs.is_empty());
}

#[tokio::test]
async fn a_second_process_is_refused_the_log() {
    let dir = scratch("second");
    let (_journal, _) = Journal::open(&dir).unwrap();
    let error = Journal::open(&dir).unwrap_err();
    assert!(matches!(error, JournalError::InUse { .. }), "{error}");
    assert!(error.to_string().contains("own data folder"), "{error}");
}

#[tokio::test]
async fn concurrent_appends_share_commits() {
    let dir = scratch("concurrent");
    let (journal, _) = Journal::open(&dir).unwrap();
    let journal = Arc::new(journal);
    let mut tasks = Vec::new();
    for n in 0..64 {
        let journal = Arc::clone(&journal);
        tasks.push(tokio::spawn(async move {
            let tickets = journal
                .append(vec![event(&n.to_string())], Vec::new(), None)
                .await
                .unwrap();
            for (_, t) in tickets {
                t.finish();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    journal.flush();
    let report = journal.report();
    assert_eq!((report.appended, report.pending), (64, 0));
    assert!(report.fsyncs <= 64 && report.fsyncs >= 1);
}

#[test]
fn durability_reads_as_its_name() {
    assert_eq!("disk".parse::<Durability>(), Ok(Durability::Disk));
    assert_eq!("memory".parse::<Durability>(), Ok(Durability::Memory));
    let error = "ram".parse::<Durability>().unwrap_err();
    assert!(error.contains("`disk`"), "{error}");
}

#[test]
fn settled_rows_are_trimmed_in_runs() {
    let runs: Vec<_> = runs(&[1, 2, 3, 5, 7, 8]).collect();
    assert_eq!(runs, [(1, 3), (5, 5), (7, 8)]);
    assert_eq!(super::runs(&[]).count(), 0);
}
