//! The bench: seeded autoscaling trial campaigns and their SQLite dataset.
//!
//! Layout:
//! * [`profile`]: load profiles, the seeded (profile, seed) → request
//!   schedule every backend replays;
//! * [`gpu`]: GPU model profiles (`data/profiles/*.toml`) and the work model;
//! * [`campaign`]: campaign files (scenarios × profiles × arms × seeds),
//!   checked before anything runs;
//! * [`sim`]: the embedded discrete-event cluster simulator;
//! * [`record`]: what a trial records, one type per dataset table;
//! * [`store`]: the SQLite dataset (schema in `migrations/`);
//! * [`runner`]: runs a campaign on a backend, resumable, in parallel;
//! * [`local`]: the local backend (workload processes on this machine);
//! * [`k8s`]: the Kubernetes backend and `bench deploy`;
//! * [`export`]: the original experiment's JSON files.

pub mod campaign;
pub mod clocks;
pub mod export;
pub mod gpu;
pub mod k8s;
pub mod loadgen;
pub mod local;
pub mod profile;
pub mod record;
pub mod rng;
pub mod route;
pub mod runner;
pub mod sim;
pub mod store;
pub mod summary;
pub mod trial;
pub mod watch;

use std::path::PathBuf;

/// Errors of the bench library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The campaign file is not valid TOML for the schema (unknown key,
    /// wrong type); the message carries line and column.
    #[error("{path}: {message}")]
    CampaignToml {
        /// The campaign file.
        path: PathBuf,
        /// toml's message.
        message: String,
    },
    /// A campaign value is impossible.
    #[error("{}{}: `{field}`: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Campaign {
        /// The campaign file.
        path: PathBuf,
        /// Line of the field (1-based), when it can be found.
        line: Option<usize>,
        /// Dotted path of the field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A statement of the bulk writer failed.
    #[error("database: {message} (SQLite code {code}) in `{statement}`")]
    Sqlite {
        /// SQLite's result code.
        code: i32,
        /// SQLite's message.
        message: String,
        /// The statement (its first 120 characters).
        statement: String,
    },
    /// The schema migrations failed.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database holds something the request cannot work with.
    #[error("{0}")]
    Dataset(String),
    /// What the user asked for is not in the dataset.
    #[error("{0}")]
    NotFound(String),
    /// The local backend could not run a trial.
    #[error("{0}")]
    Local(String),
    /// The Kubernetes backend could not reach the cluster or run a trial.
    #[error("{0}")]
    Cluster(String),
    /// The simulator stopped a trial.
    #[error("trial {trial}: {source}")]
    Simulation {
        /// scenario / profile / arm / seed.
        trial: String,
        /// Why.
        #[source]
        source: crate::sim::SimError,
    },
    /// The run was interrupted (Ctrl-C); the running trial was aborted.
    #[error("interrupted")]
    Interrupted,
}

impl Error {
    /// True when the error is the user's input (exit code 2).
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            Error::CampaignToml { .. } | Error::Campaign { .. } | Error::NotFound(_)
        )
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
