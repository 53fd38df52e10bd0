//! Replays a JSON-lines file of observations through a policy.
//!
//! Input: one [`Observation`] per line (blank lines are skipped), in
//! non-decreasing `time` order, each line UTF-8 and at most
//! [`MAX_LINE_BYTES`] long. Output: one [`Decision`] per observation, as a
//! JSON line. The format is documented in the crate's `README.md`.

use std::io::{BufRead, Read, Write};

use crate::observation::MAX_LINE_BYTES;
use crate::{Decision, Error, Observation, Policy, Result};

/// Feeds every observation of `input` to `policy` and writes each decision to
/// `output` as one JSON line. Returns the number of decisions written.
///
/// Errors name the 1-based input line: [`Error::NotUtf8`] for a line that is
/// not UTF-8, [`Error::LineTooLong`] for one over [`MAX_LINE_BYTES`] (refused
/// unparsed, so one line cannot exhaust memory), [`Error::Observation`] for a
/// line that is not a valid observation, [`Error::InvalidObservation`] for
/// one with a value outside its range ([`Observation::validate`]: checked
/// before the policy sees it), [`Error::TimeWentBack`] for one earlier than
/// the line before. An input without any observation is
/// [`Error::NoObservations`]. Decisions already made are written before the
/// error.
pub fn replay<R: BufRead, W: Write>(
    policy: &mut dyn Policy,
    mut input: R,
    mut output: W,
) -> Result<usize> {
    let mut written = 0;
    let mut previous: Option<f64> = None;
    let mut buf = Vec::new();
    let mut line_number = 0;
    loop {
        buf.clear();
        // One byte more than the limit: a full line of MAX_LINE_BYTES and
        // its newline still fits.
        let limit = MAX_LINE_BYTES as u64 + 1;
        let n = (&mut input).take(limit).read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        line_number += 1;
        if buf.last() == Some(&b'\n') {
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
        } else if n as u64 == limit {
            return Err(Error::LineTooLong {
                line: line_number,
                max: MAX_LINE_BYTES,
            });
        }
        let line = std::str::from_utf8(&buf).map_err(|source| Error::NotUtf8 {
            line: line_number,
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let obs: Observation = serde_json::from_str(line).map_err(|source| Error::Observation {
            line: line_number,
            source,
        })?;
        obs.validate().map_err(|source| Error::InvalidObservation {
            line: line_number,
            source,
        })?;
        if let Some(previous) = previous {
            if obs.time < previous {
                return Err(Error::TimeWentBack {
                    line: line_number,
                    time: obs.time,
                    previous,
                });
            }
        }
        previous = Some(obs.time);
        // A policy that samples between decisions takes each line as a
        // sample too.
        if policy.sample_period_s().is_some() {
            policy.sample(&obs);
        }
        let decision = policy.decide(&obs);
        write_decision(&mut output, &decision)?;
        written += 1;
    }
    output.flush()?;
    if written == 0 {
        return Err(Error::NoObservations);
    }
    Ok(written)
}

fn write_decision<W: Write>(output: &mut W, decision: &Decision) -> Result<()> {
    serde_json::to_writer(&mut *output, decision).map_err(std::io::Error::from)?;
    output.write_all(b"\n")?;
    Ok(())
}
