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
pub mod friedman;
pub mod metrics;
pub mod pages;
pub mod question;
pub mod ranking;
pub mod render;
pub mod report;
pub mod server;
pub mod sql;
pub mod stats;
pub mod survival;
pub mod twin;

/// Errors of the report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The dataset is inconsistent (or a campaign asked for is not in it).
    #[error("{0}")]
    Dataset(String),
    /// There is no file at the dataset's path.
    #[error("{}: no such dataset file", .path.display())]
    NoDataset {
        /// The path given.
        path: std::path::PathBuf,
    },
    /// The dataset's path is a directory.
    #[error("{} is a directory, not a dataset file", .path.display())]
    IsDirectory {
        /// The path given.
        path: std::path::PathBuf,
    },
    /// The file cannot be opened or read as an SQLite database (not a
    /// database, truncated, unreadable, not a regular file).
    #[error("{} is not a readable bench dataset: {reason}", .path.display())]
    Unreadable {
        /// The file.
        path: std::path::PathBuf,
        /// Why, in SQLite's or the system's words.
        reason: String,
    },
    /// The file is a database without some of the tables the report reads.
    #[error("{} is not a bench dataset: missing table(s) {}", .path.display(), .tables.join(", "))]
    MissingTables {
        /// The file.
        path: std::path::PathBuf,
        /// The tables it lacks.
        tables: Vec<String>,
    },
    /// The dataset records a migration newer than any this build knows.
    #[error("{} was written by a newer bench (migration {version}); this report reads datasets up to migration {known}", .path.display())]
    NewerSchema {
        /// The file.
        path: std::path::PathBuf,
        /// The newest migration it records.
        version: i64,
        /// The newest migration this build knows.
        known: i64,
    },
    /// The dataset records a migration this build does not know, though
    /// not a newer one (a bench from another line of development).
    #[error("{} records migration {version}, which this report does not know (it knows {known})", .path.display())]
    UnknownMigration {
        /// The file.
        path: std::path::PathBuf,
        /// The unknown migration.
        version: i64,
        /// The migrations this build knows, comma-separated.
        known: String,
    },
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

impl Error {
    /// Whether the error is about the dataset given (missing, not a
    /// dataset, from a newer bench, inconsistent) rather than a failure
    /// while working on a good one.
    pub fn is_bad_dataset(&self) -> bool {
        matches!(
            self,
            Error::Dataset(_)
                | Error::NoDataset { .. }
                | Error::IsDirectory { .. }
                | Error::Unreadable { .. }
                | Error::MissingTables { .. }
                | Error::NewerSchema { .. }
                | Error::UnknownMigration { .. }
        )
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
