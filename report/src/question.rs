//! The five research questions the report answers, in their order: each
//! section of a campaign's page, its metrics, its per-trial SQL and its
//! charts are chosen by one of these, never by a number.

use std::fmt;

use serde::{Serialize, Serializer};

/// A research question.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Question {
    /// 1. Does GPU-aware scaling improve GPU utilisation?
    Utilization,
    /// 2. How does scaling responsiveness compare?
    Responsiveness,
    /// 3. What is the latency impact?
    Latency,
    /// 4. Which approach is more resource-efficient?
    Efficiency,
    /// 5. How do scaling patterns differ under load?
    Patterns,
}

impl Question {
    /// Every question, in the report's order.
    pub const ALL: [Question; 5] = [
        Question::Utilization,
        Question::Responsiveness,
        Question::Latency,
        Question::Efficiency,
        Question::Patterns,
    ];

    /// Its number, 1–5 (section anchors, JSON).
    pub const fn number(self) -> u8 {
        self as u8 + 1
    }

    /// Short title.
    pub const fn title(self) -> &'static str {
        match self {
            Question::Utilization => "GPU utilisation",
            Question::Responsiveness => "Scaling responsiveness",
            Question::Latency => "Latency",
            Question::Efficiency => "Resource efficiency",
            Question::Patterns => "Scaling patterns",
        }
    }

    /// The question itself.
    pub const fn text(self) -> &'static str {
        match self {
            Question::Utilization => "Does GPU-aware scaling improve GPU utilisation?",
            Question::Responsiveness => "How does scaling responsiveness compare?",
            Question::Latency => "What is the latency impact?",
            Question::Efficiency => "Which approach is more resource-efficient?",
            Question::Patterns => "How do scaling patterns differ under load?",
        }
    }

    /// How it is answered, in a sentence or two.
    pub const fn method(self) -> &'static str {
        match self {
            Question::Utilization => "Per-trial mean and maximum GPU utilisation after warm-up; the time series shows the mean over seeds with a 95 % band.",
            Question::Responsiveness => "From the load change (the profile's first load step; t = 0, when the users start, for a closed loop), counting only orders issued and pods created after it: time to the first scale-up order, time until a new pod is ready, and controller ticks that passed without reacting, each censored at the trial's end; trials already at max replicas when the load changed are left out and counted; scaling timelines of representative seeds.",
            Question::Latency => "Per-trial nearest-rank p50/p95/p99 latency of successful requests, SLO attainment, failure and time-out rates; latency CDF over all trials of each arm.",
            Question::Efficiency => "GPU-slot-seconds per successful request, pod-seconds and GPU-slot-seconds after warm-up, successful requests per pod-second and GPU energy per successful request (answers counted in the same seconds as the capacity); p95 latency against pod-seconds per trial.",
            Question::Patterns => "Scaling events per trial, direction changes (oscillation), overshoot above the final replica count, and replicas over time.",
        }
    }
}

impl fmt::Display for Question {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.number())
    }
}

/// As its number, as the report's JSON has always written it.
impl Serialize for Question {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.number())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn questions_are_numbered_in_order_and_serialize_as_their_number() {
        for (i, q) in Question::ALL.into_iter().enumerate() {
            assert_eq!(usize::from(q.number()), i + 1);
            assert_eq!(serde_json::to_string(&q).unwrap(), (i + 1).to_string());
            assert_eq!(q.to_string(), (i + 1).to_string());
            assert!(q.text().ends_with('?'), "{q:?}");
        }
    }
}
