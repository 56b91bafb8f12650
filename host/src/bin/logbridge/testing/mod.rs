//! `logbridge test`: runs a plugins folder over input logs and prints each event's
//! decision trace ([`render`]), or runs case files — an input log and the outcome
//! expected of it — and says which cases failed and how ([`cases`]).

mod cases;
mod render;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{ArgMatches, Args, FromArgMatches};
use logbridge::config::{Config, Override};
use logbridge::ingest::{NdjsonReader, Record};
use logbridge::pipeline::{OutputRules, Pipeline};
use logbridge::{Envelope, PluginEngine, PluginSet};
use tokio::io::{AsyncBufRead, BufReader};

use crate::args::ConfigFileArg;

/// The settings `test` takes: those that shape the pipeline. Delivery, the data folder and
/// the workers play no part in it.
const SETTINGS: &[&str] = &[
    "plugins",
    "source",
    "detail_type",
    "default_bus",
    "buses",
    "plugin_limits.timeout_ms",
    "plugin_limits.memory_mib",
];

/// Exit code: a case's expectation was not met.
const MISMATCH: u8 = 1;
/// Exit code: the tests could not run — a malformed case file, plugins that do not load,
/// input that cannot be read.
const CANNOT_RUN: u8 = 2;

#[derive(Args)]
pub(crate) struct TestArgs {
    /// NDJSON logs to trace, as `logbridge run` reads them (`logbridge sample` makes
    /// some); `-` is stdin.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "-",
        conflicts_with = "cases"
    )]
    input: String,
    /// Run the cases in these files instead (TOML or JSON; a folder means every `*.toml`
    /// and `*.json` in it): each an input log and the outcome expected of it.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    cases: Vec<PathBuf>,
    /// One JSON object per event (per case with --cases) instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    config: ConfigFileArg,
    #[command(flatten)]
    settings: PipelineSettings,
}

/// The [`SETTINGS`] as flags with their environment variables, and what the user gave.
struct PipelineSettings {
    overrides: Vec<Override>,
}

impl FromArgMatches for PipelineSettings {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(PipelineSettings {
            overrides: crate::config::overrides_of_keys(matches, SETTINGS),
        })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for PipelineSettings {
    fn augment_args(command: clap::Command) -> clap::Command {
        crate::config::with_keys(command, SETTINGS)
    }

    fn augment_args_for_update(command: clap::Command) -> clap::Command {
        Self::augment_args(command)
    }
}

/// Runs `logbridge test`: exit 0 when everything ran (and every case passed), 1 when a
/// case failed, 2 when the tests could not run.
pub(crate) async fn test(args: TestArgs) -> anyhow::Result<ExitCode> {
    let result = if args.cases.is_empty() {
        trace_input(&args).await
    } else {
        run_cases(&args)
    };
    match result {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            Ok(ExitCode::from(CANNOT_RUN))
        }
    }
}

/// The configuration the flags and the file give, and the envelope logs are mapped with.
fn configuration(args: &TestArgs) -> anyhow::Result<(Config, Envelope)> {
    let config = Config::resolve(args.config.file.as_deref(), &args.settings.overrides)?;
    if config.plugins.is_none() {
        bail!("no plugins folder to test: give --plugins DIR (or `plugins` in --config FILE)");
    }
    let envelope = Envelope::new(config.source.clone(), config.detail_type.clone())?;
    Ok((config, envelope))
}

/// The pipeline `config` describes, as a host would run it (one worker's).
fn pipeline(config: &Config) -> anyhow::Result<Pipeline> {
    let dir = config
        .plugins
        .as_deref()
        .context("a plugins folder, checked before")?;
    let engine = PluginEngine::new(config.plugin_limits())?;
    let set = PluginSet::load_dir(&engine, dir)?;
    let rules = OutputRules {
        buses: (!config.buses.is_empty()).then(|| {
            let mut buses: BTreeSet<String> = config.buses.iter().cloned().collect();
            buses.insert(config.default_bus.clone());
            Arc::new(buses)
        }),
        max_entry_bytes: config.delivery_config().batch.max_bytes,
    };
    Ok(Pipeline::with_rules(
        Arc::new(set),
        config.default_bus.clone(),
        rules,
    ))
}

/// Trace mode: every input log through the pipeline, its trace printed as it comes.
async fn trace_input(args: &TestArgs) -> anyhow::Result<ExitCode> {
    let (config, envelope) = configuration(args)?;
    let mut pipeline = pipeline(&config)?;
    let input: Box<dyn AsyncBufRead + Unpin + Send> = if args.input == "-" {
        Box::new(BufReader::new(tokio::io::stdin()))
    } else {
        let file = tokio::fs::File::open(&args.input)
            .await
            .with_context(|| format!("cannot open the input file {}", args.input))?;
        Box::new(BufReader::new(file))
    };
    let mut reader = NdjsonReader::new(input, envelope);
    let mut out = std::io::stdout().lock();
    while let Some(record) = reader
        .next()
        .await
        .with_context(|| format!("cannot read {}", args.input))?
    {
        let text = match record {
            Record::Event(event) => {
                let (outcome, trace) = pipeline.run_traced(event.clone());
                render::Traced {
                    input: &event,
                    outcome: &outcome,
                    trace: &trace,
                    default_bus: pipeline.default_bus(),
                }
                .render(args.json)
            }
            Record::Invalid { line, error, .. } => render::invalid(line, &error, args.json),
        };
        out.write_all(text.as_bytes())?;
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Case mode: every case file read and checked first (any malformed one: exit 2, nothing
/// run, the plugins not even loaded), then every case run and compared.
fn run_cases(args: &TestArgs) -> anyhow::Result<ExitCode> {
    let (config, envelope) = configuration(args)?;
    let files = cases::files(&args.cases)?;
    let mut all = Vec::new();
    let mut malformed = Vec::new();
    for file in &files {
        match cases::read(file, &envelope) {
            Ok(cases) => all.extend(cases),
            Err(errors) => malformed.extend(errors),
        }
    }
    if !malformed.is_empty() {
        for error in &malformed {
            eprintln!("error: {error}");
        }
        eprintln!(
            "logbridge: {} problem{} in the case files; nothing was run",
            malformed.len(),
            if malformed.len() == 1 { "" } else { "s" }
        );
        return Ok(ExitCode::from(CANNOT_RUN));
    }
    let mut pipeline = pipeline(&config)?;
    let mut out = std::io::stdout().lock();
    let mut failed = 0;
    let mut file_shown = None;
    for case in &all {
        let (outcome, trace) = pipeline.run_traced(case.input.clone());
        let mismatches = case.expect.check(&outcome);
        if !mismatches.is_empty() {
            failed += 1;
        }
        let traced = render::Traced {
            input: &case.input,
            outcome: &outcome,
            trace: &trace,
            default_bus: pipeline.default_bus(),
        };
        let text = if args.json {
            render::case_json(case, &mismatches, &traced)
        } else {
            let mut text = String::new();
            if file_shown != Some(&case.file) {
                text.push_str(&format!("{}\n", case.file.display()));
                file_shown = Some(&case.file);
            }
            text.push_str(&render::case_text(case, &mismatches, &traced));
            text
        };
        out.write_all(text.as_bytes())?;
    }
    if !args.json {
        writeln!(
            out,
            "{} case{}: {} passed, {failed} failed",
            all.len(),
            if all.len() == 1 { "" } else { "s" },
            all.len() - failed
        )?;
    }
    out.flush()?;
    Ok(if failed > 0 {
        ExitCode::from(MISMATCH)
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_takes_the_pipeline_settings_each_with_its_variable_and_no_other() {
        crate::config::assert_takes_settings(&crate::command(), "test", |setting| {
            SETTINGS.contains(&setting.key)
        });
    }

    #[test]
    fn flags_become_overrides_and_input_excludes_cases() {
        let matches = crate::command()
            .try_get_matches_from([
                "logbridge",
                "test",
                "--plugins",
                "p",
                "--bus",
                "a",
                "--cases",
                "c1.toml",
                "c2",
            ])
            .unwrap();
        let cli = crate::Cli::from_arg_matches(&matches).unwrap();
        let crate::Command::Test(args) = cli.command else {
            panic!("not `test`")
        };
        assert_eq!(args.cases, [PathBuf::from("c1.toml"), PathBuf::from("c2")]);
        let keys: Vec<&str> = args.settings.overrides.iter().map(|o| o.key).collect();
        assert_eq!(keys, ["plugins", "buses"]);
        let both = crate::command().try_get_matches_from([
            "logbridge",
            "test",
            "--input",
            "x",
            "--cases",
            "c",
        ]);
        assert!(both.is_err(), "--input and --cases exclude each other");
    }
}
