//! The fault-injecting proxy (`fault_proxy.py`, beside this file) in front of an upstream
//! server: a test scripts throttles, errors, delays and resets for the PutEvents calls
//! that pass through it, and reads back how many entries each call carried.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::http::http;
use crate::os::die_with_parent;

/// The fault-injecting proxy in front of an upstream server, killed when dropped.
pub struct FaultProxy {
    child: Child,
    port: u16,
}

impl FaultProxy {
    /// Starts the proxy in front of `upstream` (e.g. [`Moto::url`](crate::Moto::url)).
    pub fn start(upstream: &str) -> Result<FaultProxy> {
        use std::io::BufRead;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("support/fault_proxy.py");
        let mut command = Command::new("python3");
        command
            .arg(&script)
            .args(["--upstream", upstream])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        die_with_parent(&mut command);
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start python3 {}", script.display()))?;
        let stdout = child.stdout.take().context("the proxy's stdout")?;
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line)?;
        let port = line
            .trim()
            .parse()
            .with_context(|| format!("the proxy did not print its port, but {line:?}"))?;
        Ok(FaultProxy { child, port })
    }

    /// The proxy's URL: give it to the client instead of the upstream's.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Asks one of the proxy's control endpoints; its answer is JSON.
    async fn control(&self, method: &str, path: &str, body: &str) -> Result<serde_json::Value> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let answer = http(
            addr,
            method,
            path,
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
        .await?;
        if answer.status != 200 {
            bail!(
                "the proxy answered {path} with {}: {}",
                answer.status,
                answer.body
            );
        }
        answer.json()
    }

    /// Replaces the fault script (see `fault_proxy.py`) and resets the counters.
    pub async fn script(&self, faults: serde_json::Value) -> Result<()> {
        self.control("POST", "/__faults__", &faults.to_string())
            .await
            .map(drop)
    }

    /// The number of entries in each PutEvents call received since the last script.
    pub async fn put_events_calls(&self) -> Result<Vec<usize>> {
        let stats = self.control("GET", "/__stats__", "").await?;
        Ok(serde_json::from_value(stats["entries"].clone())?)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
