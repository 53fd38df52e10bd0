//! Errors of the scaler library.

/// Everything that can go wrong while loading or running a policy.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The policy file is not valid TOML or does not match the schema.
    #[error("invalid policy file: {0}")]
    PolicyToml(#[from] toml::de::Error),
    /// A policy value is impossible (names the field).
    #[error("invalid policy: `{field}`: {message}")]
    InvalidPolicy {
        /// Dotted path of the offending field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// An observation line could not be parsed.
    #[error("observation line {line}: {source}")]
    Observation {
        /// 1-based line number in the input.
        line: usize,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// An observation line is not valid UTF-8.
    #[error("observation line {line}: not valid UTF-8: {source}")]
    NotUtf8 {
        /// 1-based line number in the input.
        line: usize,
        /// Where the bad bytes are.
        #[source]
        source: std::str::Utf8Error,
    },
    /// An observation line is longer than
    /// [`MAX_LINE_BYTES`](crate::observation::MAX_LINE_BYTES); it was not
    /// parsed.
    #[error("observation line {line}: longer than {max} bytes, the most one observation may take")]
    LineTooLong {
        /// 1-based line number in the input.
        line: usize,
        /// The limit, bytes.
        max: usize,
    },
    /// An observation parsed but a value is outside its range
    /// ([`Observation::validate`](crate::Observation::validate)).
    #[error("observation line {line}: {source}")]
    InvalidObservation {
        /// 1-based line number in the input.
        line: usize,
        /// The field and what is wrong with it.
        #[source]
        source: crate::observation::InvalidObservation,
    },
    /// The input holds no observation (it is empty or only blank lines).
    #[error("no observations")]
    NoObservations,
    /// Observations went backwards in time.
    #[error("observation line {line}: time {time} is earlier than the previous line's {previous}")]
    TimeWentBack {
        /// 1-based line number.
        line: usize,
        /// Time on that line.
        time: f64,
        /// Time on the line before.
        previous: f64,
    },
    /// Reading or writing failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
