//! `bench`: run seeded autoscaling trial campaigns and export their results.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};

use bench::campaign::Campaign;
use bench::export::{self, ExportSelection};
use bench::k8s::K8sOptions;
use bench::local::{self, LocalOptions};
use bench::runner::{self, Backend, RunOptions, SystemClock};
use bench::store::Store;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "bench",
    version,
    about = "Seeded autoscaling trial campaigns into a SQLite dataset"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a campaign (skips trials already complete in the dataset).
    Run(RunArgs),
    /// Apply the manifests (`k8s/base`) to the cluster with server-side
    /// apply and wait until every Deployment has rolled out.
    Deploy {
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Check a campaign file without running it.
    Check {
        /// Campaign file (TOML).
        #[arg(long)]
        campaign: PathBuf,
    },
    /// Follow a run from another terminal: campaign progress, the last
    /// complete trial, and the running trial's live line (local backend).
    Watch {
        /// Dataset file.
        #[arg(long, default_value = "data/trials.sqlite")]
        db: PathBuf,
        /// Print once and exit.
        #[arg(long)]
        once: bool,
    },
    /// Per-trial figures of a campaign: utilisation and CPU before and
    /// after the load step, first scale-ups, reaction, peak replicas, p95.
    Summary {
        /// Dataset file.
        #[arg(long, default_value = "data/trials.sqlite")]
        db: PathBuf,
        /// Campaign id (default: the newest).
        #[arg(long)]
        campaign_id: Option<i64>,
    },
    /// A SHA-256 of each result table (wall-clock columns left out): equal
    /// hashes prove that a change left the results as they were.
    Hash {
        /// Dataset file.
        #[arg(long, default_value = "data/trials.sqlite")]
        db: PathBuf,
    },
    /// Export results.
    Export {
        /// Output format.
        #[arg(long, value_enum)]
        format: Format,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Dataset file.
        #[arg(long, default_value = "data/trials.sqlite")]
        db: PathBuf,
        /// Campaign id (default: the newest).
        #[arg(long)]
        campaign_id: Option<i64>,
        /// Scenario to aggregate over.
        #[arg(long)]
        scenario: String,
        /// Load profile to aggregate over.
        #[arg(long)]
        profile: String,
    },
}

/// Where the cluster is and how long to wait for it.
#[derive(Args)]
struct ClusterArgs {
    /// Kubeconfig context (default: the current context).
    #[arg(long)]
    context: Option<String>,
    /// The kustomize base to apply and drive.
    #[arg(long, default_value = "k8s/base")]
    manifests: PathBuf,
    /// Longest wait for a rollout or a trial's reset, seconds.
    #[arg(long, default_value_t = 300.0)]
    ready_timeout_s: f64,
}

impl ClusterArgs {
    fn options(self, service_urls: Vec<String>) -> anyhow::Result<K8sOptions> {
        let mut urls = std::collections::BTreeMap::new();
        for entry in service_urls {
            let Some((controller, url)) = entry.split_once('=') else {
                anyhow::bail!("`--service-url`: expected CONTROLLER=URL, got `{entry}`");
            };
            let controller: contract::ControllerKind = controller
                .parse()
                .map_err(|e| anyhow::anyhow!("`--service-url`: {e}"))?;
            urls.insert(controller, url.to_owned());
        }
        if !(self.ready_timeout_s > 0.0 && self.ready_timeout_s.is_finite()) {
            anyhow::bail!("`--ready-timeout-s`: must be a positive number of seconds");
        }
        Ok(K8sOptions {
            context: self.context,
            manifests: self.manifests,
            service_urls: urls,
            ready_timeout_s: self.ready_timeout_s,
            ..K8sOptions::default()
        })
    }
}

/// `bench run`.
#[derive(Args)]
struct RunArgs {
    /// Campaign file (TOML).
    #[arg(long)]
    campaign: PathBuf,
    /// Dataset file.
    #[arg(long, default_value = "data/trials.sqlite")]
    db: PathBuf,
    /// Where trials run: `sim` (the embedded simulator), `local` (real
    /// workload processes on this machine) or `k8s` (the cluster of the
    /// kubeconfig; `bench deploy` first).
    #[arg(long, value_enum, default_value_t = BackendArg::Sim)]
    backend: BackendArg,
    /// Parallel trials on the simulator (default: all cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Local backend: the `workload` binary [default: next to `bench`].
    #[arg(long)]
    workload_bin: Option<PathBuf>,
    /// Local backend: the workload's compute backend (auto, gpu, cpu).
    #[arg(long, default_value = "auto")]
    workload_backend: String,
    /// Local backend: CPU threads per replica on the CPU backend.
    #[arg(long, default_value_t = 1)]
    cpu_threads: u32,
    /// Local backend: kill one ready replica this many seconds into
    /// each trial (fault injection; the replica set replaces it).
    #[arg(long)]
    kill_replica_at: Option<f64>,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// k8s backend: send an arm's load to this Service URL instead of
    /// per-pod port-forwards, as CONTROLLER=URL (`hpa=http://10.43.0.12:8000`);
    /// repeatable.
    #[arg(long = "service-url", value_name = "CONTROLLER=URL")]
    service_urls: Vec<String>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

impl RunArgs {
    fn run(self) -> anyhow::Result<()> {
        let RunArgs {
            campaign,
            db,
            backend,
            jobs,
            workload_bin,
            workload_backend,
            cpu_threads,
            kill_replica_at,
            cluster,
            service_urls,
            quiet,
        } = self;
        let c = Campaign::load(&campaign)?;
        let jobs =
            jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        if !["auto", "gpu", "cpu"].contains(&workload_backend.as_str()) {
            anyhow::bail!(
                "`--workload-backend`: expected auto, gpu or cpu, got `{workload_backend}`"
            );
        }
        let local = LocalOptions {
            workload_bin: workload_bin.unwrap_or_else(local::default_workload_bin),
            workload_backend,
            cpu_threads: cpu_threads.max(1),
            kill_replica_at_s: kill_replica_at,
            ..LocalOptions::default()
        };
        let k8s = cluster.options(service_urls)?;
        for url in k8s.service_urls.values() {
            bench::k8s::forward::parse_service_url(url)?;
        }
        let backend = match backend {
            BackendArg::Sim => Backend::Sim,
            BackendArg::Local => Backend::Local(local),
            BackendArg::K8s => Backend::K8s(k8s),
        };
        let mut opts = RunOptions::new(db.clone(), backend);
        if !matches!(opts.backend, Backend::Sim) {
            stop_on_ctrl_c(Arc::clone(&opts.stop));
        }
        opts.jobs = jobs;
        opts.progress = !quiet;
        let s = runner::run_campaign(&c, &opts, &SystemClock)?;
        println!(
            "campaign `{}` (id {}): {} trials complete ({} run now, {} already done), {} rows in {:.1} s -> {}",
            c.file.name,
            s.campaign_id,
            s.total,
            s.ran,
            s.skipped,
            s.rows,
            s.wall_s,
            db.display()
        );
        Ok(())
    }
}

/// `--backend`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BackendArg {
    Sim,
    Local,
    K8s,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// hpa_results.json, userscale_results.json, comparison.json.
    OriginalJson,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    contract::logging::init("warn,bench=info");
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            let input = e
                .downcast_ref::<bench::Error>()
                .is_some_and(bench::Error::is_input_error);
            ExitCode::from(if input { 2 } else { 1 })
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Check { campaign } => {
            let c = Campaign::load(&campaign)?;
            println!(
                "{}: ok, {} trials (sha256 {})",
                campaign.display(),
                c.plan().len(),
                c.sha256
            );
            let arms: Vec<String> = c
                .arm_order()
                .iter()
                .filter_map(|name| c.arms.get(*name).map(|p| format!("{name} ({})", p.kind())))
                .collect();
            println!(
                "  {} arms: {}; baseline {}",
                arms.len(),
                arms.join(", "),
                c.baseline
            );
            Ok(())
        }
        Command::Run(args) => args.run(),
        Command::Deploy { cluster } => {
            let opts = cluster.options(Vec::new())?;
            bench::k8s::manifests::render(&opts.manifests)?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .context("starting the runtime")?;
            rt.block_on(async {
                let conn = bench::k8s::connect(opts.context.as_deref()).await?;
                println!(
                    "cluster: context `{}`, {} ({})",
                    conn.context, conn.server, conn.version
                );
                bench::k8s::deploy(&conn, &opts, &|line| println!("{line}")).await
            })?;
            println!("deployed {}", opts.manifests.display());
            Ok(())
        }
        Command::Watch { db, once } => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            loop {
                let (lines, running) = rt.block_on(bench::watch::status(&db))?;
                println!("{}", lines.join("\n"));
                if once || (!running && !bench::watch::live_path(&db).exists()) {
                    return Ok(());
                }
                println!();
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
        }
        Command::Summary { db, campaign_id } => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .context("starting the runtime")?;
            let (id, figures) = rt.block_on(async {
                let mut store = Store::open_read_only(&db).await?;
                bench::summary::trial_figures(&mut store, campaign_id).await
            })?;
            println!("{}", bench::summary::format(id, &figures).join("\n"));
            Ok(())
        }
        Command::Hash { db } => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .context("starting the runtime")?;
            let hashes = rt.block_on(async {
                let mut store = Store::open_read_only(&db).await?;
                store.table_hashes().await
            })?;
            for h in hashes {
                println!("{:<16} {:>9} {}", h.table, h.rows, h.sha256);
            }
            Ok(())
        }
        Command::Export {
            format: Format::OriginalJson,
            out,
            db,
            campaign_id,
            scenario,
            profile,
        } => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .context("starting the runtime")?;
            let sel = ExportSelection {
                campaign_id,
                scenario,
                load_profile: profile,
            };
            let results = rt.block_on(async {
                let mut store = Store::open_read_only(&db).await?;
                export::original_results(&mut store, &sel).await
            })?;
            for p in export::write_original_json(&out, &results)? {
                println!("wrote {}", p.display());
            }
            Ok(())
        }
    }
}

/// Sets `stop` on Ctrl-C (or SIGTERM): a real backend then stops its
/// replicas or controller, records the running trial as aborted, and exits.
fn stop_on_ctrl_c(stop: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
            }
        });
        tracing::warn!("stopping: terminating replicas, the running trial is aborted");
        stop.store(true, Ordering::SeqCst);
    });
}
