//! An HTTP/1.1 client for the tests, on hyper's: one request on a fresh connection, the
//! whole answer read. Tests that must send bytes no client would (bad heads, slow or
//! oversize bodies) write to a `TcpStream` themselves.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONNECTION, HOST, HeaderName, HeaderValue};
use hyper_util::rt::TokioIo;

/// An HTTP answer: status, headers (names lowercased), body.
#[derive(Debug)]
pub struct HttpAnswer {
    /// The status code, e.g. 200.
    pub status: u16,
    /// Every header line in the order received, names lowercased; a value that is not
    /// UTF-8 is read lossily.
    pub headers: Vec<(String, String)>,
    /// The body (chunked transfer decoded), read lossily as UTF-8.
    pub body: String,
}

impl HttpAnswer {
    /// The first header called `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_str(&self.body).with_context(|| format!("not JSON: {}", self.body))
    }
}

/// One HTTP/1.1 request to `addr` on a fresh connection, asked to close after the
/// answer (`Connection: close`). `body` is sent as it is, with its `Content-Length`; it
/// need not be UTF-8. A server that answers before it has read the whole body (413, say)
/// is heard.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<HttpAnswer> {
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(HOST, addr.to_string())
        .header(CONNECTION, "close");
    for (name, value) in headers {
        request = request.header(
            HeaderName::try_from(*name).with_context(|| format!("header name {name:?}"))?,
            HeaderValue::try_from(*value).with_context(|| format!("header value {value:?}"))?,
        );
    }
    let request = request
        .body(Full::new(Bytes::copy_from_slice(body)))
        .with_context(|| format!("cannot build {method} {path}"))?;

    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP/1.1 handshake")?;
    let exchange = async {
        let response = sender.send_request(request).await?;
        let (head, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        hyper::Result::Ok((head, body))
    };
    // The connection is driven here, beside the exchange, and dropped with it: nothing
    // outlives the call (or a timeout around it).
    let mut exchange = std::pin::pin!(exchange);
    let mut connection = std::pin::pin!(connection);
    let answered = tokio::select! {
        answered = &mut exchange => answered,
        ended = &mut connection => {
            // What was read before the connection ended may still complete the answer.
            let answered = exchange.await;
            match ended {
                Err(e) if answered.is_err() => Err(e),
                _ => answered,
            }
        }
    };
    let (head, body) = answered.with_context(|| format!("{method} {path} to {addr}"))?;
    Ok(HttpAnswer {
        status: head.status.as_u16(),
        headers: head
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A server on a loopback port that reads one request head, writes `answer` and then
    /// keeps the connection open until the client closes it. Returns its address and the
    /// request it read.
    async fn answering(
        answer: &'static [u8],
    ) -> Result<(SocketAddr, tokio::task::JoinHandle<Vec<u8>>)> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("one connection");
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buf).await.expect("a request head");
                assert!(n > 0, "the client closed before its head was complete");
                request.extend_from_slice(&buf[..n]);
            }
            stream.write_all(answer).await.expect("the answer written");
            // Kept open: only the client may end the connection.
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
            }
            request
        });
        Ok((addr, server))
    }

    async fn ask(addr: SocketAddr, body: &[u8]) -> Result<HttpAnswer> {
        tokio::time::timeout(
            Duration::from_secs(30),
            http(addr, "POST", "/logs", &[("Authorization", "t")], body),
        )
        .await
        .context("no answer within 30 s from a server that keeps the connection open")?
    }

    #[tokio::test]
    async fn an_answer_is_read_by_its_length_from_a_server_that_keeps_the_connection_open()
    -> Result<()> {
        let (addr, server) = answering(
            b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-Note: kept\r\n\r\n{\"ok\":true}",
        )
        .await?;
        let body = b"{\"log_id\":\"caf\xe9\"}";
        let answer = ask(addr, body).await?;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.header("x-note"), Some("kept"));
        assert_eq!(answer.json()?["ok"], true);
        let request = server.await?;
        assert!(
            request.ends_with(body),
            "the body went out byte for byte, not UTF-8: {:?}",
            String::from_utf8_lossy(&request)
        );
        let head = String::from_utf8_lossy(&request).to_ascii_lowercase();
        assert!(
            head.contains("connection: close") && head.contains("content-length: 17"),
            "{head}"
        );
        Ok(())
    }

    #[tokio::test]
    async fn a_chunked_answer_with_extensions_and_trailers_is_decoded() -> Result<()> {
        let (addr, server) = answering(
            b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n\
              5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n",
        )
        .await?;
        let answer = ask(addr, b"[]").await?;
        assert_eq!(answer.status, 503);
        assert_eq!(answer.body, "hello world");
        server.abort();
        Ok(())
    }
}
