//! The binaries' logging (feature `logging`): `tracing` events on stderr,
//! filtered by `RUST_LOG`, ANSI colour only on a terminal. Each binary
//! calls [`init`] once at start with its own default filter.

use std::io::IsTerminal;

/// Installs the global subscriber. `default_filter` applies when
/// `RUST_LOG` is unset or does not parse (e.g. `"warn,bench=info"`).
pub fn init(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
