//! `logbridge pattern test`: EventBridge's `TestEventPattern` on this machine — whether an
//! event pattern matches an event, or AWS's reason the pattern is not valid — with the
//! matcher the stock `eventbridge-rules` plugin runs.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use event_pattern::Pattern;
use serde_json::{Value, json};

#[derive(Args)]
pub(crate) struct PatternArgs {
    #[command(subcommand)]
    command: PatternCommand,
}

#[derive(Subcommand)]
enum PatternCommand {
    /// Whether a pattern matches an event: prints `true` or `false` (exit 0), or the reason
    /// the pattern is not valid (exit 2).
    Test {
        /// The event pattern: JSON, or @FILE to read it from a file.
        #[arg(long)]
        pattern: String,
        /// The event, as EventBridge sees it (`source`, `detail-type`, `detail`...): JSON,
        /// or @FILE.
        #[arg(long)]
        event: String,
        /// Answer in JSON: `{"Result": true}`, or `{"Error": ..., "Message": ...}` for an
        /// invalid pattern — the shape of EventBridge's answer.
        #[arg(long)]
        json: bool,
    },
}

/// The exit code for a pattern that is not valid (2, like a usage error: the input is wrong).
const INVALID: u8 = 2;

/// Text given on the command line, or read from the file after `@`.
fn text_of(arg: &str, what: &str) -> Result<String> {
    match arg.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the {what} from {path}")),
        None => Ok(arg.to_owned()),
    }
}

pub(crate) fn pattern(args: PatternArgs) -> Result<ExitCode> {
    let PatternCommand::Test {
        pattern,
        event,
        json,
    } = args.command;
    let pattern_text = text_of(&pattern, "pattern")?;
    let event_text = text_of(&event, "event")?;
    let event: Value = serde_json::from_str(&event_text)
        .context("the event is not JSON; give a JSON object (or @FILE holding one)")?;
    if !event.is_object() {
        bail!("the event must be a JSON object, like an EventBridge event");
    }
    match Pattern::parse(&pattern_text) {
        Ok(pattern) => {
            let matched = pattern.matches(&event);
            if json {
                println!("{}", json!({ "Result": matched }));
            } else {
                println!("{matched}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if json {
                println!(
                    "{}",
                    json!({"Error": "InvalidEventPatternException", "Message": e.to_string()})
                );
            } else {
                println!("{e}");
            }
            Ok(ExitCode::from(INVALID))
        }
    }
}
