//! Finding and asking a running `logbridge serve`: the note it keeps in its data folder
//! while it runs, and `GET /health` over HTTP/1.1.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use serde_json::Value;

/// The file in the data folder where a running `logbridge serve` says where it listens.
pub(crate) const SERVE_FILE: &str = "serve.json";

/// A running server's note in its data folder; removed when it is dropped (the server
/// stops), unless another server has written its own since.
pub(crate) struct ServeRecord {
    path: PathBuf,
    pid: u32,
}

impl ServeRecord {
    /// Notes that this process serves on `address`. A note that cannot be written costs
    /// only `logbridge health`'s live view, so it is a warning.
    pub(crate) fn write(data_dir: &Path, address: SocketAddr) -> Option<ServeRecord> {
        let mut reach = address;
        if reach.ip().is_unspecified() {
            reach.set_ip(match address {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let pid = std::process::id();
        let note = serde_json::json!({
            "url": format!("http://{reach}"),
            "pid": pid,
            "started_at": logbridge::health::rfc3339(SystemTime::now()),
        });
        let path = data_dir.join(SERVE_FILE);
        let temporary = data_dir.join(format!(".{SERVE_FILE}.{pid}"));
        let written = std::fs::write(&temporary, note.to_string())
            .and_then(|()| std::fs::rename(&temporary, &path));
        match written {
            Ok(()) => Some(ServeRecord { path, pid }),
            Err(e) => {
                tracing::warn!(
                    "cannot note the server's address in {}: {e}; `logbridge health` will \
                     need --url",
                    path.display()
                );
                None
            }
        }
    }
}

impl Drop for ServeRecord {
    fn drop(&mut self) {
        let ours = std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .is_some_and(|note| note["pid"] == self.pid);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The URL a running server noted in `data_dir`, if any.
pub(crate) fn noted_url(data_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(data_dir.join(SERVE_FILE)).ok()?;
    let note: Value = serde_json::from_str(&text).ok()?;
    note["url"].as_str().map(str::to_string)
}

/// Why a server's live state could not be had.
pub(crate) enum Unanswered {
    /// Nothing answers there: fall back to the last finished run.
    NoServer(String),
    /// Something answered, but not with the health: the user must act.
    Refused(anyhow::Error),
}

/// `GET {url}/health?failing_after=S` with `authorization`, over plain HTTP/1.1.
pub(crate) async fn ask_server(
    url: &str,
    authorization: Option<&str>,
    failing_after: Duration,
) -> Result<Value, Unanswered> {
    use http_body_util::{BodyExt, Empty};
    use hyper::header::{ACCEPT, AUTHORIZATION, HOST};

    let refused = |e: anyhow::Error| Unanswered::Refused(e);
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        refused(anyhow::anyhow!(
            "{url}: only http:// URLs are supported; point --url at the server's own \
             listener (e.g. http://127.0.0.1:8080), not at a TLS proxy in front of it"
        ))
    })?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let connect = tokio::time::timeout(
        Duration::from_secs(3),
        tokio::net::TcpStream::connect(authority),
    );
    let stream = match connect.await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Err(Unanswered::NoServer(e.to_string())),
        Err(_) => return Err(Unanswered::NoServer("no answer within 3 s".into())),
    };
    let mut request =
        hyper::Request::get(format!("/health?failing_after={}", failing_after.as_secs()))
            .header(HOST, authority)
            .header(ACCEPT, "application/json");
    if let Some(value) = authorization {
        request = request.header(AUTHORIZATION, value);
    }
    let request = request
        .body(Empty::<bytes::Bytes>::new())
        .map_err(|e| refused(anyhow::anyhow!("cannot ask {url}: {e}")))?;
    let exchange = async {
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        let connection = tokio::spawn(connection);
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        connection.abort();
        hyper::Result::Ok((status, body))
    };
    let (status, body) = match tokio::time::timeout(Duration::from_secs(10), exchange).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => return Err(Unanswered::NoServer(format!("not an HTTP answer: {e}"))),
        Err(_) => return Err(Unanswered::NoServer("no answer within 10 s".into())),
    };
    let body = String::from_utf8_lossy(&body);
    match status.as_u16() {
        200 => serde_json::from_str(&body)
            .with_context(|| format!("{url}/health did not answer with health JSON: {body}"))
            .map_err(refused),
        401 => Err(refused(anyhow::anyhow!(
            "the server at {url} refused the request (401): give its Authorization value with \
             --authorization or LOGBRIDGE_AUTHORIZATION"
        ))),
        other => Err(refused(anyhow::anyhow!(
            "the server at {url} answered {other}: {body}"
        ))),
    }
}
