//! `report`: serve or render the notebook-style report of a bench dataset.
//!
//! Exit status: 0 on success; 2 when the dataset given is not one it can
//! read (missing, a directory, not a database, truncated, lacking tables,
//! written by a newer bench, inconsistent), the message naming the file;
//! 1 on any other failure.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use report::report::ReportOptions;
use report::server::{self, AppState};

#[derive(Parser)]
#[command(
    name = "report",
    version,
    about = "The autoscaling bench's report over its SQLite dataset"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the report over HTTP (the dataset is opened read-only).
    Serve {
        /// Dataset file.
        #[arg(long, default_value = "data/trials.sqlite")]
        db: PathBuf,
        /// Address to bind (loopback unless told otherwise).
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: SocketAddr,
        /// SLO threshold for SLO attainment, ms.
        #[arg(long, default_value_t = 1000.0)]
        slo_ms: f64,
    },
    /// Write a static copy (HTML + SVG + CSV) or the tables as JSON.
    Render {
        /// Dataset file.
        #[arg(long, default_value = "data/trials.sqlite")]
        db: PathBuf,
        /// Output: a directory for html, a file for json (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "html")]
        format: Format,
        /// Only this campaign (json).
        #[arg(long)]
        campaign_id: Option<i64>,
        /// SLO threshold for SLO attainment, ms.
        #[arg(long, default_value_t = 1000.0)]
        slo_ms: f64,
    },
    /// The simulator's twin: one campaign run on a real backend (local or
    /// k8s) and on the simulator, per metric side by side with the relative
    /// error.
    Twin {
        /// Dataset file holding both campaigns.
        #[arg(long, default_value = "data/trials.sqlite")]
        db: PathBuf,
        /// The measured campaign's id, local or k8s backend (default: the
        /// newest with a sim twin).
        #[arg(long, requires = "sim")]
        local: Option<i64>,
        /// Simulator campaign id.
        #[arg(long, requires = "local")]
        sim: Option<i64>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: TwinFormat,
        /// SLO threshold for SLO attainment, ms.
        #[arg(long, default_value_t = 1000.0)]
        slo_ms: f64,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum TwinFormat {
    /// A plain-text table.
    Text,
    /// JSON.
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// Self-contained HTML with inline SVG and CSV files.
    Html,
    /// The comparison tables and per-trial metrics as JSON.
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    contract::logging::init("warn,report=info");
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", describe(&e));
            let input = e
                .downcast_ref::<report::Error>()
                .is_some_and(report::Error::is_bad_dataset);
            ExitCode::from(if input { 2 } else { 1 })
        }
    }
}

/// The error and its causes on one line, leaving out a cause whose text an
/// outer message already includes (the library's errors embed their source,
/// and so do sqlx's).
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

fn check_slo(slo_ms: f64) -> anyhow::Result<()> {
    anyhow::ensure!(
        slo_ms.is_finite() && slo_ms > 0.0,
        "--slo-ms must be a positive number of milliseconds, got {slo_ms}"
    );
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    match cli.command {
        Command::Serve { db, bind, slo_ms } => {
            check_slo(slo_ms)?;
            rt.block_on(async {
                // Fail early, with the reason, on a missing or foreign file.
                report::dataset::connect_read_only(&db).await?;
                let listener = tokio::net::TcpListener::bind(bind)
                    .await
                    .with_context(|| format!("binding {bind}"))?;
                let addr = listener.local_addr()?;
                println!(
                    "Report of {} at http://{addr}/  (Ctrl-C stops)",
                    db.display()
                );
                let state = AppState::new(
                    db,
                    ReportOptions {
                        slo_ms,
                        charts: true,
                    },
                );
                server::serve(listener, state, async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await?;
                Ok(())
            })
        }
        Command::Render {
            db,
            out,
            format,
            campaign_id,
            slo_ms,
        } => {
            check_slo(slo_ms)?;
            let opts = ReportOptions {
                slo_ms,
                charts: true,
            };
            rt.block_on(async {
                match format {
                    Format::Json => {
                        let text = report::render::json(&db, opts, campaign_id).await?;
                        match out {
                            Some(path) => std::fs::write(&path, text + "\n")
                                .with_context(|| format!("writing {}", path.display()))?,
                            None => println!("{text}"),
                        }
                    }
                    Format::Html => {
                        let out = out.unwrap_or_else(|| PathBuf::from("report-out"));
                        let index = report::render::html(&db, &out, opts).await?;
                        println!("wrote {}", index.display());
                    }
                }
                Ok(())
            })
        }
        Command::Twin {
            db,
            local,
            sim,
            format,
            slo_ms,
        } => {
            check_slo(slo_ms)?;
            let ids = local.zip(sim);
            let (local, sim) = rt.block_on(report::twin::load_pair(&db, ids))?;
            let t = report::twin::compare(&local, &sim, slo_ms)?;
            match format {
                TwinFormat::Text => print!("{}", report::twin::text(&t)),
                TwinFormat::Json => println!("{}", serde_json::to_string_pretty(&t)?),
            }
            Ok(())
        }
    }
}
