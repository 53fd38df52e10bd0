//! `scaler`: runs the bench's autoscaling policies outside the bench.
//!
//! `scaler replay --policy FILE [--observations FILE|-]` reads JSON-lines
//! observations and prints one JSON decision per line. Exit status: 0 on
//! success, 2 when the policy file or the observations are invalid (a line
//! that is not UTF-8, too long, not an observation, out of range or earlier
//! than the line before; or no observation at all), 1 on any other failure
//! (for example a file that cannot be read).
//!
//! `scaler run` is the in-cluster UserScale controller
//! ([`scaler::cluster::controller`]): flags, or the `SCALER_*` environment
//! the manifests set. It exits 0 on SIGTERM or Ctrl-C, 2 on a bad policy or
//! flag, 1 when it cannot reach the API server's configuration at start.

use std::fs::File;
use std::io::{self, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use scaler::cluster::controller::{Controller, ControllerConfig, PodHttp, SystemClock};
use scaler::cluster::kube_api::Apis;
use scaler::cluster::ClusterError;
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
    /// Run the UserScale controller against the cluster: every interval,
    /// read the pods' /metrics.json, decide, patch the Deployment's scale
    /// and record an Event.
    Run(RunArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Policy file (`kind = "userscale"`), e.g. the mounted ConfigMap.
    #[arg(long, env = "SCALER_POLICY", value_name = "FILE")]
    policy: PathBuf,
    /// Namespace of the Deployment.
    #[arg(long, env = "SCALER_NAMESPACE", default_value = "userscale")]
    namespace: String,
    /// The Deployment to scale.
    #[arg(long, env = "SCALER_DEPLOYMENT", default_value = "userscale-app")]
    deployment: String,
    /// Label selector of its pods.
    #[arg(long, env = "SCALER_SELECTOR", default_value = "app=userscale-app")]
    selector: String,
    /// Port of the pods' /metrics.json.
    #[arg(long, env = "SCALER_POD_PORT", default_value_t = 8000)]
    pod_port: u16,
    /// Time-out of one pod's metrics read, milliseconds.
    #[arg(long, env = "SCALER_METRICS_TIMEOUT_MS", default_value_t = 1000)]
    metrics_timeout_ms: u64,
    /// Address of /healthz, /metrics and /decisions.
    #[arg(long, env = "SCALER_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Log decisions without patching or creating Events.
    #[arg(long, env = "SCALER_DRY_RUN")]
    dry_run: bool,
    /// Field manager of the scale patches.
    #[arg(long, env = "SCALER_FIELD_MANAGER", default_value = "userscale-scaler")]
    field_manager: String,
    /// Kubeconfig context when running outside the cluster (default: the
    /// kubeconfig's current context if there is a kubeconfig, else the
    /// in-cluster service account).
    #[arg(long, env = "SCALER_CONTEXT")]
    context: Option<String>,
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
            let (name, result) = if observations == "-" {
                ("stdin", replay(policy.as_mut(), io::stdin().lock(), stdout))
            } else {
                let file = File::open(&observations)
                    .with_context(|| format!("opening observations {observations}"))?;
                (
                    observations.as_str(),
                    replay(policy.as_mut(), BufReader::new(file), stdout),
                )
            };
            match result {
                Ok(_) => Ok(()),
                Err(Error::NoObservations) => Err(anyhow::Error::new(Error::NoObservations)
                    .context(format!(
                        "no observations in {name} (it is empty or holds only blank lines)"
                    ))),
                Err(e) => Err(e).with_context(|| format!("replaying observations from {name}")),
            }
        }
        Command::Run(args) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            rt.block_on(run_controller(args))
        }
    }
}

async fn run_controller(args: RunArgs) -> anyhow::Result<()> {
    let config = PolicyConfig::load(&args.policy)
        .with_context(|| format!("loading policy file {}", args.policy.display()))?;
    if !matches!(config, PolicyConfig::Userscale(_)) {
        return Err(ClusterError::Config(format!(
            "{}: `scaler run` drives UserScale (kind = \"userscale\"); an HPA arm (`hpa`, `hpa-gpu`) is Kubernetes' own HorizontalPodAutoscaler",
            args.policy.display()
        ))
        .into());
    }
    let mut kube_config = match &args.context {
        None => kube::Config::infer()
            .await
            .map_err(kube::Error::InferConfig),
        Some(ctx) => {
            let options = kube::config::KubeConfigOptions {
                context: Some(ctx.clone()),
                ..Default::default()
            };
            kube::Config::from_kubeconfig(&options)
                .await
                .map_err(kube::Error::InferKubeconfig)
        }
    }
    .context("configuring the Kubernetes client")?;
    // No call the controller makes streams: a stalled answer is a failure
    // to retry, not something to wait for.
    kube_config.connect_timeout = Some(Duration::from_secs(5));
    kube_config.read_timeout = Some(Duration::from_secs(10));
    kube_config.write_timeout = Some(Duration::from_secs(10));
    let client =
        kube::Client::try_from(kube_config).context("configuring the Kubernetes client")?;
    let mut cc = ControllerConfig::new(&args.namespace);
    cc.deployment = args.deployment;
    cc.selector = args.selector;
    cc.pod_port = args.pod_port;
    cc.metrics_timeout = Duration::from_millis(args.metrics_timeout_ms);
    cc.dry_run = args.dry_run;
    cc.field_manager = args.field_manager;
    cc.instance = std::env::var("HOSTNAME").unwrap_or_else(|_| "scaler".into());
    let metrics = PodHttp {
        port: cc.pod_port,
        timeout: cc.metrics_timeout,
    };
    tracing::info!(
        "{} {}/{} (pods {}), policy {} [{}..{}] every {} s{}",
        if cc.dry_run { "watching" } else { "scaling" },
        cc.namespace,
        cc.deployment,
        cc.selector,
        args.policy.display(),
        config.bounds().0,
        config.bounds().1,
        config.build().interval_s(),
        if cc.dry_run { " (dry run)" } else { "" }
    );
    let controller = Controller::new(
        Apis::new(client, &args.namespace),
        cc,
        config.build(),
        metrics,
        SystemClock,
    );
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|source| ClusterError::Listen {
            addr: args.listen.to_string(),
            source,
        })?;
    let app = scaler::cluster::server::router(controller.status());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    controller.run(shutdown_signal()).await;
    server.abort();
    tracing::info!("stopped");
    Ok(())
}

/// SIGTERM (the kubelet stopping the pod) or Ctrl-C.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
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
            | Error::NotUtf8 { .. }
            | Error::LineTooLong { .. }
            | Error::InvalidObservation { .. }
            | Error::NoObservations
            | Error::TimeWentBack { .. },
        ) => 2,
        _ if matches!(
            error.downcast_ref::<ClusterError>(),
            Some(ClusterError::Config(_) | ClusterError::Policy(_))
        ) =>
        {
            2
        }
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
    contract::logging::init("warn,scaler=info");
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("scaler: error: {}", describe(&error));
            ExitCode::from(exit_code(&error))
        }
    }
}
