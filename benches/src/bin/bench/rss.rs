//! The `rss` group: resident memory of a host with 10 plugins.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use logbridge::{Envelope, Host};

use crate::host::{Counting, tempdir};

/// `VmRSS` and `VmHWM` of this process, in MiB.
pub(crate) fn memory() -> Result<(f64, f64)> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let field = |name: &str| -> Result<f64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("no {name} in /proc/self/status"))?;
        let kib: f64 = line
            .split_whitespace()
            .nth(1)
            .context("malformed /proc/self/status")?
            .parse()?;
        Ok(kib / 1024.0)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// A folder of 10 plugins: the three examples and seven more filters (copies of the
/// first, each its own plugin with its own instances).
pub(crate) fn ten_plugins(plugins: &Path) -> Result<PathBuf> {
    let dir = tempdir("ten-plugins")?;
    for entry in std::fs::read_dir(plugins)? {
        let path = entry?.path();
        std::fs::copy(&path, dir.join(path.file_name().context("a file")?))?;
    }
    let filter = plugins.join("10-drop-noise.wasm");
    for k in 1..=7 {
        std::fs::copy(&filter, dir.join(format!("1{k}-drop-noise-copy.wasm")))?;
    }
    let count = std::fs::read_dir(&dir)?
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "wasm"))
        })
        .count();
    if count != 10 {
        bail!("expected 10 plugins in {}, made {count}", dir.display());
    }
    Ok(dir)
}

pub(crate) async fn rss(plugins: &Path, logs: &Path) -> Result<()> {
    let (before, _) = memory()?;
    let folder = ten_plugins(plugins)?;
    let data = tempdir("rss")?;
    // Compile once into the cache, as a restart would find it.
    Host::builder()
        .plugins_dir(&folder)
        .cache_dir(data.join("cache"))
        .data_dir(&data)
        .sink(Counting::default())
        .build()?
        .shutdown()
        .await?;
    let host = Host::builder()
        .plugins_dir(&folder)
        .cache_dir(data.join("cache"))
        .data_dir(&data)
        .workers(2)
        .sink(Counting::default())
        .build()?;
    let (loaded, _) = memory()?;
    let envelope = Envelope::default();
    // Streamed from the file, so the logs themselves do not count.
    let mut sent = 0;
    // The kernel's high-water mark lags the resident figure a little: the peak reported
    // is the larger of it and every sample taken on the way.
    let mut sampled: f64 = loaded;
    for line in std::io::BufRead::lines(std::io::BufReader::new(std::fs::File::open(logs)?)) {
        host.send(envelope.auth0_event(&line?)?).await?;
        sent += 1;
        if sent % 1000 == 0 {
            sampled = sampled.max(memory()?.0);
        }
    }
    while host.queue_depth() > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (idle, _) = memory()?;
    host.shutdown().await?;
    let (_, high_water) = memory()?;
    let peak = high_water.max(sampled).max(idle);
    let _ = std::fs::remove_dir_all(&data);
    let _ = std::fs::remove_dir_all(&folder);
    println!("rss: a host with 10 plugins (cached), 2 workers, {sent} events");
    println!("  before loading      {before:>7.1} MiB  (baseline)");
    println!(
        "  10 plugins loaded   {loaded:>7.1} MiB  (+{:.1})",
        loaded - before
    );
    println!(
        "  idle after events   {idle:>7.1} MiB  (+{:.1})",
        idle - before
    );
    println!("  peak                {peak:>7.1} MiB");
    Ok(())
}
