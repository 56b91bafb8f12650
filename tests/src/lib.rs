//! Shared helpers for the integration tests: where the built plugins and the `logbridge`
//! binary are, generated Auth0 logs, and a real moto server with buses, rules and SQS
//! queues to read back what EventBridge routed.

#![allow(missing_docs)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use aws_config::{BehaviorVersion, Region};
use aws_sdk_eventbridge::config::Credentials;

/// Makes `dir` afresh (removing what was there) holding a copy of the example plugins
/// folder, and returns it.
pub fn copy_of_plugins(dir: PathBuf) -> PathBuf {
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    for entry in std::fs::read_dir(plugins_dir()).expect("the built plugins") {
        let path = entry.expect("a plugins folder entry").path();
        let name = path.file_name().expect("a file name");
        std::fs::copy(&path, dir.join(name)).expect("a copied plugin");
    }
    dir
}

/// The folder with the three example plugins, built from `plugins/` by `build.rs`.
pub fn plugins_dir() -> PathBuf {
    PathBuf::from(env!("LOGBRIDGE_TEST_PLUGINS"))
}

/// A test-only component from `plugins/test-fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("LOGBRIDGE_TEST_FIXTURES")).join(format!("{name}.wasm"))
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_owned()
}

/// The `logbridge` binary of this build (`cargo build --bins` puts it beside `deps/`).
pub fn logbridge_bin() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("LOGBRIDGE_BIN") {
        return Ok(path.into());
    }
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("the test binary is not in a cargo target directory")?;
    let bin = profile_dir.join("logbridge");
    if !bin.is_file() {
        bail!(
            "{} does not exist; build it first with `cargo build --bins` \
             (scripts/test.sh does), or point LOGBRIDGE_BIN at it",
            bin.display()
        );
    }
    Ok(bin)
}

/// `n` Auth0 logs from `logbridge sample`, NDJSON, deterministic by `seed`; `extra`
/// arguments are passed on (`--edge-cases`, `--format ...`).
pub fn generate_logs(n: usize, seed: u64, extra: &[&str]) -> Result<String> {
    let output = Command::new(logbridge_bin()?)
        .args([
            "sample",
            "--count",
            &n.to_string(),
            "--seed",
            &seed.to_string(),
        ])
        .args(extra)
        .output()
        .context("cannot run `logbridge sample`")?;
    if !output.status.success() {
        bail!(
            "logbridge sample failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8(output.stdout)?)
}

/// A free loopback port (released again; the server that takes it binds it at once).
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A moto server on 127.0.0.1, killed when dropped — also when the test panics, and
/// (through the parent-death signal) when the test process itself dies.
pub struct Moto {
    child: Child,
    port: u16,
    /// Its AWS configuration, loaded once and shared by every client.
    config: tokio::sync::OnceCell<aws_config::SdkConfig>,
}

/// Credentials and region moto accepts; also what the `logbridge` binary gets.
pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";

impl Moto {
    /// Starts moto from the project's virtualenv (`scripts/setup-test-env.sh`).
    pub fn start() -> Result<Moto> {
        let server = std::env::var_os("LOGBRIDGE_MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join(".venv/bin/moto_server"));
        if !server.is_file() {
            bail!(
                "{} is missing; run scripts/setup-test-env.sh to install moto",
                server.display()
            );
        }
        let port = free_port()?;
        let mut command = Command::new(&server);
        command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        die_with_parent(&mut command);
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", server.display()))?;
        let mut moto = Moto {
            child,
            port,
            config: tokio::sync::OnceCell::new(),
        };
        moto.wait_ready()?;
        Ok(moto)
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!("moto exited before it was ready: {status}");
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("moto did not listen on {addr} within 30 s")
    }

    /// The endpoint URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Environment that points an AWS client (or the `logbridge` binary) at this moto.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", REGION.into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_CONFIG_FILE", "/dev/null".into()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
        ]
    }

    /// An AWS SDK configuration for this moto (or, with `endpoint`, a proxy before it).
    pub async fn sdk_config_for(&self, endpoint: &str) -> aws_config::SdkConfig {
        local_sdk_config(endpoint).await
    }

    /// An EventBridge admin client for this moto.
    async fn config(&self) -> &aws_config::SdkConfig {
        self.config
            .get_or_init(|| async { self.sdk_config_for(&self.url()).await })
            .await
    }

    pub async fn eventbridge(&self) -> aws_sdk_eventbridge::Client {
        aws_sdk_eventbridge::Client::new(self.config().await)
    }

    /// An SQS client for this moto.
    pub async fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(self.config().await)
    }

    /// Creates `bus` unless it exists already (`default` always does).
    pub async fn create_bus(&self, bus: &str) -> Result<()> {
        if bus != "default" {
            self.eventbridge()
                .await
                .create_event_bus()
                .name(bus)
                .send()
                .await?;
        }
        Ok(())
    }

    /// Creates the SQS queue `name` and a rule of that name on `bus`, with `pattern`,
    /// that targets it. Returns the queue URL.
    pub async fn route_to_queue(
        &self,
        bus: &str,
        name: &str,
        pattern: &serde_json::Value,
    ) -> Result<String> {
        let eb = self.eventbridge().await;
        let url = self
            .sqs()
            .await
            .create_queue()
            .queue_name(name)
            .send()
            .await?
            .queue_url
            .context("moto returned no queue URL")?;
        eb.put_rule()
            .name(name)
            .event_bus_name(bus)
            .event_pattern(pattern.to_string())
            .send()
            .await?;
        eb.put_targets()
            .rule(name)
            .event_bus_name(bus)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("queue")
                    .arn(format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"))
                    .build()?,
            )
            .send()
            .await?;
        Ok(url)
    }

    /// Creates `bus` and, for each Auth0 log type in `types`, a queue and a rule matching
    /// `{"source": [source], "detail": {"data": {"type": [type]}}}` — the shape of rule
    /// Auth0's users write. Returns the queue URLs. One queue per type keeps moto's queues
    /// short: its SQS slows down with every message a queue holds.
    pub async fn route_types_to_queues(
        &self,
        bus: &str,
        source: &str,
        types: &[&str],
    ) -> Result<Vec<String>> {
        self.create_bus(bus).await?;
        let mut urls = Vec::with_capacity(types.len());
        for log_type in types {
            let pattern = serde_json::json!({
                "source": [source],
                "detail": { "data": { "type": [log_type] } },
            });
            urls.push(
                self.route_to_queue(bus, &format!("{bus}-{log_type}"), &pattern)
                    .await?,
            );
        }
        Ok(urls)
    }

    /// Every message in the queue at `url`, parsed as JSON. Received messages stay
    /// invisible for ten minutes, so each is returned once.
    pub async fn drain_queue(&self, url: &str) -> Result<Vec<serde_json::Value>> {
        let sqs = self.sqs().await;
        let mut messages = Vec::new();
        loop {
            let batch = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .visibility_timeout(600)
                .send()
                .await?;
            let received = batch.messages.unwrap_or_default();
            if received.is_empty() {
                return Ok(messages);
            }
            for message in received {
                let body = message.body.context("an SQS message without a body")?;
                messages.push(serde_json::from_str(&body)?);
            }
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asks Linux to kill `command`'s process when the thread that started it dies (the test
/// thread, which owns the [`Moto`]), so no server outlives a killed test run.
#[allow(unsafe_code)]
fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no memory of the
    // parent; it is the only thing run between fork and exec.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The fault-injecting proxy (`tests/fault_proxy.py`) in front of an upstream server,
/// killed when dropped.
pub struct FaultProxy {
    child: Child,
    port: u16,
}

impl FaultProxy {
    /// Starts the proxy in front of `upstream` (e.g. [`Moto::url`]).
    pub fn start(upstream: &str) -> Result<FaultProxy> {
        use std::io::BufRead;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fault_proxy.py");
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

    fn request(&self, method: &str, path: &str, body: &str) -> Result<serde_json::Value> {
        use std::io::{Read, Write};
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        let (head, body) = answer
            .split_once("\r\n\r\n")
            .context("a malformed answer from the proxy")?;
        if !head.starts_with("HTTP/1.1 200") {
            bail!("the proxy answered {head}");
        }
        Ok(serde_json::from_str(body)?)
    }

    /// Replaces the fault script (see `tests/fault_proxy.py`) and resets the counters.
    pub fn script(&self, faults: serde_json::Value) -> Result<()> {
        self.request("POST", "/__faults__", &faults.to_string())
            .map(drop)
    }

    /// The number of entries in each PutEvents call received since the last script.
    pub fn put_events_calls(&self) -> Result<Vec<usize>> {
        let stats = self.request("GET", "/__stats__", "")?;
        Ok(serde_json::from_value(stats["entries"].clone())?)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer: status, headers (names lowercased), body.
#[derive(Debug)]
pub struct HttpAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
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

/// One HTTP/1.1 request to `addr` on a fresh connection (closed after the answer).
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<HttpAnswer> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await?;
    // A server may answer (413, say) before reading the whole body and close; the answer
    // is still there to read.
    let _ = stream.write_all(body).await;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .with_context(|| format!("a malformed HTTP answer: {answer:?}"))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .context("no status line")?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect::<Vec<_>>();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_string()
    };
    Ok(HttpAnswer {
        status,
        headers,
        body,
    })
}

fn dechunk(mut text: &str) -> Result<String> {
    let mut out = String::new();
    loop {
        let (size, rest) = text.split_once("\r\n").context("a malformed chunk")?;
        let size = usize::from_str_radix(size.trim(), 16)?;
        if size == 0 {
            return Ok(out);
        }
        out.push_str(rest.get(..size).context("a short chunk")?);
        text = rest.get(size + 2..).context("a short chunk")?;
    }
}

/// A `logbridge serve` process, stopped (SIGTERM, then waited for) on drop.
pub struct Served {
    child: Option<tokio::process::Child>,
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

/// Raises this process's soft limit of open files to at least `want` (up to the hard
/// limit) and returns the limit now in force.
pub fn raise_open_file_limit(want: u64) -> Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given, which lives for the call.
    #[allow(unsafe_code)]
    let got = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    anyhow::ensure!(got == 0, "getrlimit: {}", std::io::Error::last_os_error());
    if limit.rlim_cur < want {
        limit.rlim_cur = want.min(limit.rlim_max);
        // SAFETY: setrlimit only reads the struct it is given.
        #[allow(unsafe_code)]
        let set = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
        anyhow::ensure!(set == 0, "setrlimit: {}", std::io::Error::last_os_error());
    }
    Ok(limit.rlim_cur)
}

/// `logbridge::serve::serve` for `host`, in this process, on a free loopback port.
pub struct LocalServer {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl LocalServer {
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

/// An AWS SDK configuration for a server on this machine at `endpoint`: a fixed region,
/// test credentials and the one TLS stack the host uses.
pub async fn local_sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
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
