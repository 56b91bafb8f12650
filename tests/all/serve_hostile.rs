//! Hostile and slow clients against `logbridge serve`: idle sockets, half-sent headers,
//! slow bodies and oversize declared lengths are closed by their timeouts or refused at
//! once, without starving honest senders, and the health pages answer while every ingest
//! slot and connection is busy.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use logbridge::serve::ServeConfig;
use logbridge::{ChannelSink, Host};
use logbridge_tests::{LocalServer, http};

use crate::serve::{AUTH, records};

/// Connects and sends `head` (which may stop half-way), then reads until the server
/// closes. Returns what was read, or fails when the server has not closed within `limit`.
async fn closed_by_server(addr: SocketAddr, head: &[u8], limit: Duration) -> Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(head).await?;
    let mut answer = Vec::new();
    match tokio::time::timeout(limit, stream.read_to_end(&mut answer)).await {
        Err(_) => anyhow::bail!("the server kept the socket open for {limit:?}"),
        // A reset is a close too.
        Ok(Ok(_) | Err(_)) => Ok(String::from_utf8_lossy(&answer).into_owned()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_length_over_the_limit_is_refused_before_the_body_arrives() -> Result<()> {
    let (sink, _delivered) = ChannelSink::new(16);
    let host = Host::builder().sink(sink).workers(1).build()?;
    let config = ServeConfig {
        max_body_bytes: 64 << 10,
        // Long, so only the early refusal can answer within the wait below.
        header_timeout: Duration::from_secs(120),
        body_timeout: Duration::from_secs(120),
        ..ServeConfig::default()
    };
    let server = LocalServer::start(host.clone(), config).await?;
    // The head alone: a body of 100 MB announced, none of it sent.
    let head = format!(
        "POST /logs HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        100 << 20
    );
    let answer = closed_by_server(server.addr, head.as_bytes(), Duration::from_secs(30))
        .await
        .context("an oversize Content-Length was not refused before its body")?;
    ensure!(
        answer.starts_with("HTTP/1.1 413"),
        "refused with 413: {answer}"
    );
    ensure!(answer.contains("--max-body"), "says what to do: {answer}");
    server.stop().await?;
    let health = host.shutdown().await?;
    ensure!(health.accepted == 0, "{health:?}");
    Ok(())
}

/// How a hostile client misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Hostile {
    /// Connects and sends nothing.
    Idle,
    /// Sends half a request head and stops.
    HalfHeaders,
    /// An authorized post declaring a large body, sent a byte at a time.
    SlowBody,
    /// The same, declaring a body over the limit.
    OversizeBody,
    /// The same, without the secret.
    UnauthorizedBody,
}

impl Hostile {
    pub(crate) fn head(self) -> Vec<u8> {
        let post = |auth: &str, length: usize| {
            format!(
                "POST /logs HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {length}\r\n\r\n{{\"log"
            )
            .into_bytes()
        };
        let auth = format!("Authorization: {AUTH}\r\n");
        match self {
            Hostile::Idle => Vec::new(),
            Hostile::HalfHeaders => b"POST /logs HTTP/1.1\r\nHost: x\r\nAuthoriz".to_vec(),
            Hostile::SlowBody => post(&auth, 1 << 20),
            Hostile::OversizeBody => post(&auth, 1 << 30),
            Hostile::UnauthorizedBody => post("", 1 << 20),
        }
    }
}

/// Plays `kind` on `stream` until the server closes it (a slow body keeps trickling a
/// byte every 200 ms); returns how long the socket stayed open, or fails once `limit`
/// has passed.
pub(crate) async fn play_hostile(
    kind: Hostile,
    stream: tokio::net::TcpStream,
    opened: std::time::Instant,
    limit: Duration,
) -> Result<(Hostile, Duration)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut read, mut write) = stream.into_split();
    let trickle = async move {
        if matches!(
            kind,
            Hostile::SlowBody | Hostile::OversizeBody | Hostile::UnauthorizedBody
        ) {
            for _ in 0..10_000 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                if write.write_all(b" ").await.is_err() {
                    break;
                }
            }
        }
        std::future::pending::<()>().await;
    };
    let closed = async {
        let mut sink = Vec::new();
        // A reset is a close too.
        let _ = read.read_to_end(&mut sink).await;
    };
    tokio::select! {
        () = closed => Ok((kind, opened.elapsed())),
        () = trickle => unreachable!("the trickle never ends by itself"),
        () = tokio::time::sleep(limit.saturating_sub(opened.elapsed())) => {
            anyhow::bail!("a {kind:?} socket was still open {limit:?} after it connected")
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_hostile_sockets_neither_starve_honest_senders_nor_outlive_their_timeouts()
-> Result<()> {
    const HOSTILE: usize = 1000;
    let limit = logbridge_tests::raise_open_file_limit(4 * HOSTILE as u64)?;
    ensure!(
        limit >= 3 * HOSTILE as u64,
        "this test needs ~{} open files and the hard limit is {limit}",
        3 * HOSTILE
    );
    let (sink, mut delivered) = ChannelSink::new(1024);
    let host = Host::builder().sink(sink).workers(2).build()?;
    let reader = tokio::spawn(async move {
        let mut ids = Vec::new();
        while let Some(d) = delivered.recv().await {
            ids.push(d.event.id);
        }
        ids
    });
    let (header_timeout, body_timeout) = (Duration::from_secs(2), Duration::from_secs(3));
    let config = ServeConfig {
        authorization: Some(AUTH.into()),
        header_timeout,
        body_timeout,
        idle_timeout: header_timeout,
        max_connections: 512,
        health_connections: 16,
        ..ServeConfig::default()
    };
    let server = LocalServer::start(host.clone(), config).await?;
    let addr = server.addr;

    // Every hostile socket connects and sends its part before any honest request.
    let kinds = [
        Hostile::Idle,
        Hostile::HalfHeaders,
        Hostile::SlowBody,
        Hostile::Idle,
        Hostile::HalfHeaders,
        Hostile::SlowBody,
        Hostile::OversizeBody,
        Hostile::UnauthorizedBody,
    ];
    // Generous: each must be closed by its timeout; this only bounds the wait.
    let wait_limit = body_timeout + Duration::from_secs(20);
    let mut hostile = tokio::task::JoinSet::new();
    for n in 0..HOSTILE {
        use tokio::io::AsyncWriteExt;
        let kind = kinds[n % kinds.len()];
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let opened = std::time::Instant::now();
        // The server may already have closed it to make room: that is a close too.
        let _ = stream.write_all(&kind.head()).await;
        hostile.spawn(play_hostile(kind, stream, opened, wait_limit));
    }

    let health = http(addr, "GET", "/health", &[("Authorization", AUTH)], b"").await?;
    ensure!(
        health.status == 200,
        "/health beside 1,000 hostile sockets: {health:?}"
    );

    // Honest senders: 4 at once, 40 posts of 5 records each, every post retried until
    // taken so that everything is delivered in the end.
    let honest = records(800, 77)?;
    let mut senders = tokio::task::JoinSet::new();
    for chunk in honest.chunks(200) {
        let bodies: Vec<String> = chunk
            .chunks(5)
            .map(|five| serde_json::to_string(five).unwrap_or_default())
            .collect();
        senders.spawn(async move {
            let mut on_time = 0usize;
            for body in bodies {
                for attempt in 0.. {
                    ensure!(attempt < 100, "a post still not taken after 100 tries");
                    let started = std::time::Instant::now();
                    let answer = tokio::time::timeout(
                        Duration::from_secs(30),
                        http(
                            addr,
                            "POST",
                            "/logs",
                            &[("Authorization", AUTH)],
                            body.as_bytes(),
                        ),
                    )
                    .await;
                    let ok = matches!(&answer, Ok(Ok(a)) if a.status == 200);
                    if attempt == 0 && ok && started.elapsed() <= Duration::from_secs(1) {
                        on_time += 1;
                    }
                    if ok {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            Ok::<_, anyhow::Error>(on_time)
        });
    }
    let mut on_time = 0;
    while let Some(sender) = senders.join_next().await {
        on_time += sender??;
    }
    let posts = honest.len() / 5;

    let mut open_for: BTreeMap<Hostile, Duration> = BTreeMap::new();
    while let Some(closed) = hostile.join_next().await {
        let (kind, open) = closed??;
        let longest = open_for.entry(kind).or_default();
        *longest = (*longest).max(open);
    }
    server.stop().await?;
    let report = host.shutdown().await?;
    let ids = reader.await?;
    eprintln!(
        "honest posts answered 200 within 1 s: {on_time} of {posts} ({:.1}%); the longest each \
         kind of hostile socket stayed open: {open_for:?}",
        100.0 * on_time as f64 / posts as f64
    );
    ensure!(
        on_time * 100 >= posts * 95,
        "only {on_time} of {posts} honest posts were answered 200 within 1 s"
    );
    let unique: BTreeSet<&String> = ids.iter().collect();
    let expected: BTreeSet<String> = honest
        .iter()
        .map(|r| r["log_id"].as_str().unwrap_or_default().to_string())
        .collect();
    ensure!(unique.len() == ids.len(), "nothing delivered twice");
    ensure!(
        unique.into_iter().cloned().collect::<BTreeSet<_>>() == expected,
        "every honest record delivered"
    );
    ensure!(
        report.accepted == 800 && report.settled(),
        "nothing but the honest records taken, all settled: {report:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_pages_answer_while_every_ingest_slot_and_connection_is_busy() -> Result<()> {
    // A sink nobody reads yet and a tiny queue: posts wait for room, holding their slots.
    let (sink, mut delivered) = ChannelSink::new(1);
    let host = Host::builder()
        .sink(sink)
        .workers(1)
        .queue_capacity(2)
        .build()?;
    let config = ServeConfig {
        max_requests: 2,
        max_connections: 6,
        health_connections: 2,
        queue_wait: Duration::from_secs(120),
        header_timeout: Duration::from_secs(120),
        body_timeout: Duration::from_secs(120),
        ..ServeConfig::default()
    };
    let server = LocalServer::start(host.clone(), config).await?;
    let addr = server.addr;
    // Far more than the pipeline's queues and delivery's batches can take in while the
    // sink is not read (a few hundred), so both posts stay stuck holding their slots.
    let all = records(2000, 41)?;
    let mut stuck = tokio::task::JoinSet::new();
    for half in all.chunks(1000) {
        let body = serde_json::to_string(half)?;
        stuck.spawn(async move { http(addr, "POST", "/logs", &[], body.as_bytes()).await });
    }
    // Until both ingest slots are taken, a third post may get one.
    let mut tries = 0;
    loop {
        let third = http(addr, "POST", "/logs", &[], b"[]").await?;
        if third.status == 503 && third.body.contains("in progress") {
            break;
        }
        tries += 1;
        ensure!(tries < 200, "the ingest slots never filled: {third:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Two slow bodies take the last ordinary connections. One that the server closes
    // to make room (it may take a new connection for one still waiting for its head) is
    // opened again.
    async fn slow_body(addr: SocketAddr) -> Result<tokio::net::TcpStream> {
        use tokio::io::AsyncWriteExt;
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream
            .write_all(b"POST /logs HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n[")
            .await?;
        Ok(stream)
    }
    let mut slow = vec![slow_body(addr).await?, slow_body(addr).await?];
    let mut tries = 0;
    loop {
        for stream in &mut slow {
            let closed = !matches!(
                stream.try_read(&mut [0u8; 64]),
                Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock
            );
            if closed {
                *stream = slow_body(addr).await?;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let post = http(addr, "POST", "/logs", &[], b"[]").await?;
        if post.status == 503 && post.body.contains("kept for the health pages") {
            break;
        }
        tries += 1;
        ensure!(
            tries < 200,
            "the ordinary connections never filled: {post:?}"
        );
    }
    for path in ["/health", "/metrics", "/"] {
        let page = http(addr, "GET", path, &[], b"").await?;
        ensure!(
            page.status == 200,
            "{path} while everything is busy: {page:?}"
        );
    }
    // The consumer catches up: the stuck posts finish and nothing was lost.
    drop(slow);
    let reader = tokio::spawn(async move {
        let mut n = 0;
        while delivered.recv().await.is_some() {
            n += 1;
        }
        n
    });
    while let Some(post) = stuck.join_next().await {
        let post = post??;
        ensure!(
            post.status == 200 && post.json()?["accepted"] == 1000,
            "{post:?}"
        );
    }
    server.stop().await?;
    let report = host.shutdown().await?;
    ensure!(reader.await? == 2000, "every record delivered");
    ensure!(report.accepted == 2000 && report.settled(), "{report:?}");
    Ok(())
}
