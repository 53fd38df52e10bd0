//! `scaler`: runs the bench's autoscaling policies outside the bench.
//!
//! `scaler replay --policy FILE [--observations FILE|-]` reads JSON-lines
//! observations and prints one JSON decision per line. Exit status: 0 on
//! success, 2 when the policy file or the observations are invalid, 1 on
//! any other failure (for example a file that cannot be read).

use std::fs::File;
use std::io::{self, BufReader};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use scaler::{replay::replay, Error, PolicyConfig};

/// Autoscaling policies of the bench, runnable on recorded observations.
#[derive(Debug, Parser)]
#[command(name = "scaler", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Feed JSON-lines observations through a policy; print one JSON
    /// decision per line.
    Replay {
        /// Policy file (TOML, `kind = "hpa"` or `kind = "userscale"`).
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
        /// Observations, one JSON object per line; `-` reads stdin.
        #[arg(long, value_name = "FILE", default_value = "-")]
        observations: String,
    },
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Replay {
            policy,
            observations,
        } => {
            let text = std::fs::read_to_string(&policy)
                .with_context(|| format!("reading policy file {}", policy.display()))?;
            let config = PolicyConfig::from_toml_str(&text)
                .with_context(|| format!("loading policy file {}", policy.display()))?;
            let mut policy = config.build();
            let stdout = io::stdout().lock();
            if observations == "-" {
                replay(policy.as_mut(), io::stdin().lock(), stdout)
                    .context("replaying observations from stdin")?;
            } else {
                let file = File::open(&observations)
                    .with_context(|| format!("opening observations {observations}"))?;
                replay(policy.as_mut(), BufReader::new(file), stdout)
                    .with_context(|| format!("replaying observations from {observations}"))?;
            }
            Ok(())
        }
    }
}

/// Bad input (an invalid policy or observation) exits with 2, anything else
/// with 1.
fn exit_code(error: &anyhow::Error) -> u8 {
    match error.downcast_ref::<Error>() {
        Some(
            Error::PolicyToml(_)
            | Error::InvalidPolicy { .. }
            | Error::Observation { .. }
            | Error::TimeWentBack { .. },
        ) => 2,
        _ => 1,
    }
}

/// The error and its causes on one line, leaving out a cause whose text an
/// outer message already includes (the library's errors embed their source).
fn describe(error: &anyhow::Error) -> String {
    let mut message = error.to_string();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
    }
    message
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("scaler: error: {}", describe(&error));
            ExitCode::from(exit_code(&error))
        }
    }
}
