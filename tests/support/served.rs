//! A server under test: a `logbridge serve` process ([`Served`]) or the receiver run in
//! this process for a host the test built ([`LocalServer`]), each on a free loopback port.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::fixtures::logbridge_bin;

/// A `logbridge serve` process, stopped (SIGTERM, then waited for) on drop.
pub struct Served {
    child: Option<tokio::process::Child>,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Served {
    /// Starts `logbridge serve --listen 127.0.0.1:0 ARGS` with `envs` and waits until it
    /// says where it listens.
    pub async fn start(args: &[&str], envs: Vec<(&'static str, String)>) -> Result<Served> {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new(logbridge_bin()?)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .envs(envs)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .context("logbridge serve did not start within 60 s")??
            .context("logbridge serve exited before listening")?;
        let addr = line
            .strip_prefix("listening on http://")
            .with_context(|| format!("unexpected first line: {line}"))?
            .parse()?;
        // Keep draining stdout (the local sink may write there).
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Served {
            child: Some(child),
            addr,
        })
    }

    /// Sends it `signal` (e.g. `libc::SIGTERM`), as an operator would.
    pub fn signal(&self, signal: libc::c_int) -> Result<()> {
        let pid = self
            .child
            .as_ref()
            .and_then(tokio::process::Child::id)
            .context("it has exited already")?;
        // SAFETY: signalling a child process this test started and has not reaped.
        #[allow(unsafe_code)]
        let sent = unsafe { libc::kill(pid as libc::pid_t, signal) };
        anyhow::ensure!(
            sent == 0,
            "cannot signal {pid}: {}",
            std::io::Error::last_os_error()
        );
        Ok(())
    }

    /// Waits up to `limit` for it to exit; fails, saying so, if it has not.
    pub async fn exited_within(mut self, limit: Duration) -> Result<std::process::ExitStatus> {
        let mut child = self.child.take().context("already stopped")?;
        tokio::time::timeout(limit, child.wait())
            .await
            .with_context(|| format!("logbridge serve had not exited {limit:?} later"))?
            .map_err(Into::into)
    }

    /// Stops it as an operator would (SIGTERM) and waits; returns whether it exited 0.
    pub async fn stop(mut self) -> Result<bool> {
        let mut child = self.child.take().context("already stopped")?;
        if let Some(pid) = child.id() {
            // SAFETY: signalling a child process this test started.
            #[allow(unsafe_code)]
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGTERM);
            }
        }
        let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
            .await
            .context("logbridge serve did not stop within 60 s of SIGTERM")??;
        Ok(status.success())
    }
}

/// `logbridge::serve::serve` for `host`, in this process, on a free loopback port.
pub struct LocalServer {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl LocalServer {
    /// Serves `host` with `config` on a free loopback port until [`LocalServer::stop`].
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
