//! `logbridge plugin check`: what the host makes of one component before it is deployed —
//! role and world, imports, `init`'s answer, declared fields, settings, size and compile
//! time — and whether it would load (exit 0) or be refused (exit 1, with the loader's
//! message).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use logbridge::PluginError;
use logbridge::plugin::{
    ImportStatus, InitOutcome, InspectOptions, PluginLimits, PluginReport, inspect,
};

#[derive(Args)]
pub(crate) struct PluginArgs {
    #[command(subcommand)]
    command: PluginCommand,
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Check a plugin component as the host would load it: exit 0 if it would load, 1 if
    /// it would be refused (with the reason), 2 if the file cannot be read.
    Check {
        /// The component (`.wasm`).
        file: PathBuf,
        /// Its sidecar; by default `NAME.toml` next to the component, as the host reads it.
        #[arg(long = "config", value_name = "SIDECAR")]
        config: Option<PathBuf>,
        /// A data folder: also say whether its compiled-plugin cache holds the component.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// The report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The exit code for a component the host would refuse.
const REFUSED: u8 = 1;
/// The exit code for a file that cannot be read (a usage error).
const USAGE: u8 = 2;

pub(crate) fn plugin(args: PluginArgs) -> Result<ExitCode> {
    let PluginCommand::Check {
        file,
        config,
        data_dir,
        json,
    } = args.command;
    let options = InspectOptions {
        sidecar: config,
        data_dir,
        limits: PluginLimits::default(),
    };
    let report = match inspect(&file, &options) {
        Ok(report) => report,
        Err(e @ PluginError::ReadFile { .. }) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(USAGE));
        }
        Err(e) => return Err(e.into()),
    };
    if json {
        let mut value = serde_json::to_value(&report)?;
        value["loads"] = report.loads().into();
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{}", text(&report));
    }
    Ok(if report.loads() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(REFUSED)
    })
}

/// The report for a person.
fn text(report: &PluginReport) -> String {
    let mut out = String::new();
    let verdict = match &report.refusal {
        None => "loads".to_string(),
        Some(_) => "REFUSED".to_string(),
    };
    let _ = writeln!(out, "{}: {verdict}", report.file.display());
    let _ = writeln!(
        out,
        "  size      {} bytes ({:.1} KiB), sha256 {}",
        report.size_bytes,
        report.size_bytes as f64 / 1024.0,
        report.sha256
    );
    if let Some(time) = report.compile_time {
        let cached = match report.cached {
            Some(true) => ", a compiled copy is in the data folder's cache",
            Some(false) => ", no compiled copy in the data folder's cache",
            None => "",
        };
        let _ = writeln!(
            out,
            "  compile   {:.0} ms (uncached){cached}",
            time.as_secs_f64() * 1000.0
        );
    }
    match (report.baseline_compile_time, &report.baseline_error) {
        (Some(time), _) => {
            let _ = writeln!(
                out,
                "  baseline  {:.0} ms with Winch (a large plugin's first load)",
                time.as_secs_f64() * 1000.0
            );
        }
        (None, Some(error)) => {
            let _ = writeln!(out, "  baseline  Winch cannot compile it: {error}");
        }
        (None, None) => {}
    }
    match report.role {
        Some(role) => {
            let world = report.world.unwrap_or("none");
            let _ = writeln!(out, "  role      {role}, world {world}");
        }
        None => {
            let _ = writeln!(out, "  role      none");
        }
    }
    if !report.exports.is_empty() {
        let _ = writeln!(out, "  exports   {}", report.exports.join(", "));
    }
    let _ = writeln!(out, "  imports   {}", report.imports.len());
    for import in &report.imports {
        let status = match import.status {
            ImportStatus::Offered => "offered ",
            ImportStatus::Refused => "REFUSED ",
            ImportStatus::Unchecked => "unchecked",
            _ => "unknown  ",
        };
        let _ = write!(out, "    {status} {}", import.name);
        if let Some(note) = import.note {
            let _ = write!(out, " — {note}");
        }
        let _ = writeln!(out);
        if let Some(reason) = &import.reason {
            let _ = writeln!(out, "             {reason}");
        }
    }
    let init = match &report.init {
        InitOutcome::NotRun => "not run".to_string(),
        InitOutcome::Ok => "ok".to_string(),
        InitOutcome::Refused(message) => format!("refused: {message}"),
        InitOutcome::Failed(message) => format!("failed: {message}"),
        other => format!("{other:?}"),
    };
    let _ = writeln!(out, "  init      {init}");
    let sidecar = report
        .sidecar
        .as_ref()
        .map_or("none".to_string(), |s| s.display().to_string());
    let _ = writeln!(out, "  sidecar   {sidecar}");
    for (key, value) in &report.config {
        let _ = writeln!(out, "    {key} = {value:?}");
    }
    if let Some(reads) = &report.reads {
        let declared = match reads.declared() {
            [] => "the whole detail".to_string(),
            fields => fields.join(", "),
        };
        let _ = writeln!(out, "  declared  {declared}");
        if let Some(projection) = reads.projection()
            && projection.fields() != reads.declared()
        {
            let _ = writeln!(
                out,
                "  narrowed  {} (the sidecar's [projection])",
                projection.fields().join(", ")
            );
        }
        let envelope = if reads.envelope() { "read" } else { "not read" };
        let _ = writeln!(out, "  envelope  {envelope}");
    }
    if let Some(settings) = &report.settings {
        let or_default = |v: Option<String>| v.unwrap_or_else(|| "host default".into());
        let _ = writeln!(
            out,
            "  limits    call_timeout {}, max_memory {}, recycle_after_calls {}, recycle_memory {}",
            or_default(
                settings
                    .call_timeout
                    .map(|d| format!("{} ms", d.as_millis()))
            ),
            or_default(
                settings
                    .max_memory_bytes
                    .map(|b| format!("{} MiB", b >> 20))
            ),
            or_default(settings.recycle_after_calls.map(|n| n.to_string())),
            or_default(
                settings
                    .recycle_memory_bytes
                    .map(|b| format!("{} MiB", b >> 20))
            ),
        );
        let _ = writeln!(
            out,
            "  failures  on_error {}, degraded above {}",
            serde_json::to_value(settings.on_error)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            or_default(
                settings
                    .degraded_permille
                    .map(|p| format!("{:.3} of recent calls", f64::from(p) / 1000.0))
            ),
        );
        for grant in &settings.read_only {
            let _ = writeln!(
                out,
                "  grant     {} = {} (read only)",
                grant.guest,
                grant.host.display()
            );
        }
    }
    if let Some(refusal) = &report.refusal {
        let _ = writeln!(out, "refused: {refusal}");
    }
    out
}
