//! The report: a notebook-style HTML report over the bench's SQLite dataset.
//!
//! It reads only the dataset (the schema in `migrations/` is the contract),
//! opened read-only. Layout:
//! * [`dataset`]: read-only connection, campaigns, loading a campaign into
//!   polars frames;
//! * [`metrics`]: per-trial metrics (one observation per trial);
//! * [`stats`]: the statistical tests and estimators;
//! * [`compare`]: arm-against-arm comparisons with Holm correction;
//! * [`finding`]: the generated one-sentence findings;
//! * [`sql`]: the SQL shown in each section;
//! * [`charts`]: SVG charts;
//! * [`report`]: a campaign's report (sections, charts, about block);
//! * [`pages`]: askama pages; [`server`]: the axum server;
//!   [`render`]: the static copy and the JSON output.

pub mod charts;
pub mod compare;
pub mod dataset;
pub mod finding;
pub mod metrics;
pub mod pages;
pub mod render;
pub mod report;
pub mod server;
pub mod sql;
pub mod stats;
pub mod twin;

/// Errors of the report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The dataset is missing, not a bench dataset, or inconsistent.
    #[error("{0}")]
    Dataset(String),
    /// SQLite failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A polars computation failed.
    #[error("dataframe: {0}")]
    Polars(#[from] polars::prelude::PolarsError),
    /// A chart could not be drawn.
    #[error("chart: {0}")]
    Chart(String),
    /// A page could not be rendered.
    #[error("template: {0}")]
    Template(#[from] askama::Error),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
