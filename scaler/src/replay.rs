//! Replays a JSON-lines file of observations through a policy.
//!
//! Input: one [`Observation`] per line (blank lines are skipped), in
//! non-decreasing `time` order. Output: one [`Decision`] per observation, as a
//! JSON line. The format is documented in the crate's `README.md`.

use std::io::{BufRead, Write};

use crate::{Decision, Error, Observation, Policy, Result};

/// Feeds every observation of `input` to `policy` and writes each decision to
/// `output` as one JSON line. Returns the number of decisions written.
///
/// Errors name the 1-based input line: [`Error::Observation`] for a line that
/// is not a valid observation, [`Error::TimeWentBack`] for one earlier than
/// the line before. Decisions already made are written before the error.
pub fn replay<R: BufRead, W: Write>(
    policy: &mut dyn Policy,
    input: R,
    mut output: W,
) -> Result<usize> {
    let mut written = 0;
    let mut previous: Option<f64> = None;
    for (index, line) in input.lines().enumerate() {
        let line_number = index + 1;
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let obs: Observation =
            serde_json::from_str(&line).map_err(|source| Error::Observation {
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
        let decision = policy.decide(&obs);
        write_decision(&mut output, &decision)?;
        written += 1;
    }
    output.flush()?;
    Ok(written)
}

fn write_decision<W: Write>(output: &mut W, decision: &Decision) -> Result<()> {
    serde_json::to_writer(&mut *output, decision).map_err(std::io::Error::from)?;
    output.write_all(b"\n")?;
    Ok(())
}
