//! What the benchmarks (`src/bin/`) share: an SDK configuration for an endpoint on this
//! machine, the receiver served in-process, an HTTP post, the process's CPU time, and
//! how a goal line says whether it was met.
//!
//! Run them with `scripts/bench.sh [GROUP...]`; BENCHMARKS.md has the figures.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use aws_config::{BehaviorVersion, Region};
use aws_sdk_eventbridge::config::Credentials;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONNECTION, HOST};
use hyper_util::rt::TokioIo;

/// An AWS SDK configuration for an endpoint on this machine: a fixed region, dummy
/// credentials and the one TLS stack the host uses.
pub async fn local_sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("bench", "bench", None, None, "bench"))
        .endpoint_url(endpoint)
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                    aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                ))
                .build_https(),
        )
        .load()
        .await
}

/// `logbridge::serve::serve` for a host, in this process, on a free loopback port.
pub struct LocalServer {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl LocalServer {
    /// Serves `host` with `config` until [`LocalServer::stop`].
    pub async fn start(
        host: logbridge::Host,
        config: logbridge::serve::ServeConfig,
    ) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(logbridge::serve::serve(listener, host, config, async {
            let _ = stopped.await;
        }));
        Ok(LocalServer {
            addr,
            stop: Some(stop),
            task,
        })
    }

    /// Stops taking requests, finishes those in progress, and waits (the host keeps
    /// running).
    pub async fn stop(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await??;
        Ok(())
    }
}

/// Posts `body` to `path` at `addr` on a fresh connection, closed after the answer (as a
/// log stream's sender that keeps no connection does); returns the status and the body.
pub async fn post(addr: SocketAddr, path: &str, body: &[u8]) -> Result<(u16, String)> {
    let request = hyper::Request::post(path)
        .header(HOST, addr.to_string())
        .header(CONNECTION, "close")
        .body(Full::new(Bytes::copy_from_slice(body)))?;
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let connection = tokio::spawn(connection);
    let answer = async {
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        hyper::Result::Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
    .await;
    connection.abort();
    answer.with_context(|| format!("POST {path} to {addr}"))
}

/// This process's CPU time so far (user and system), in seconds.
pub fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line: 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// How a goal line says whether the goal was met.
pub fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "not met" }
}
