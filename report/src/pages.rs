//! HTML pages (askama templates in `report/templates/`, escaped by default;
//! only the generated SVG is inserted unescaped).

use crate::question::Question;
use std::borrow::Borrow;

use askama::Template;
use sqlx::{Row, SqliteConnection};

use crate::charts::{self, Chart, Series, BLUE, GREEN, ORANGE, VERMILLION};
use crate::compare::{Comparison, Design, Verdict};
use crate::dataset::{trial_from_row, CampaignInfo, Trial, TRIAL_COLUMNS};
use crate::finding::{display_arm, fmt_number};
use crate::friedman::Friedman;
use crate::metrics::{Metric, METRICS};
use crate::ranking::{Estimate, RankTest};
use crate::report::CampaignReport;
use crate::Result;
use contract::gpu::Provenance;

/// How pages link to each other: the server's routes or a static copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Links {
    /// `/campaign/{id}/…` routes.
    Server,
    /// Files written by `report render`.
    Static,
}

/// The campaign index.
#[derive(Template)]
#[template(path = "index.html")]
pub struct IndexPage<'a> {
    /// Dataset shown.
    pub db: &'a str,
    /// Campaigns.
    pub campaigns: &'a [CampaignInfo],
    /// Link style.
    pub links: Links,
}

impl IndexPage<'_> {
    fn campaign_href(&self, id: impl Borrow<i64>) -> String {
        let id = id.borrow();
        match self.links {
            Links::Server => format!("/campaign/{id}/"),
            Links::Static => format!("campaign-{id}/index.html"),
        }
    }
}

/// A campaign report.
#[derive(Template)]
#[template(path = "campaign.html")]
pub struct CampaignPage<'a> {
    /// The report.
    pub r: &'a CampaignReport,
    /// Link style.
    pub links: Links,
    /// Link to the index.
    pub index_href: &'a str,
    /// Link to the JSON results.
    pub json_href: &'a str,
}

impl CampaignPage<'_> {
    fn baseline_name(&self) -> String {
        display_arm(&self.r.baseline)
    }
    fn serve_chart(&self, k: impl Borrow<usize>) -> Option<&Chart> {
        self.r.serve_charts.get(*k.borrow())
    }
    fn arm_name(&self, arm: &str) -> String {
        display_arm(arm)
    }
    /// Every arm in display order, with its kind where the name is not it.
    fn arm_list(&self) -> String {
        self.r
            .arms
            .iter()
            .map(|a| {
                let name = display_arm(&a.name);
                if a.kind == a.name {
                    name
                } else {
                    format!("{name} ({})", display_arm(&a.kind))
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
    /// The estimate as "median (low to high)".
    fn est(&self, e: &Estimate) -> String {
        let m = self.num(e.median);
        match (e.low, e.high) {
            (Some(l), Some(h)) => format!("{m} ({} to {})", fmt_number(l), fmt_number(h)),
            (Some(l), None) => format!("{m} ({} to not reached)", fmt_number(l)),
            _ => m,
        }
    }
    /// Events among the trials, for a time to an event.
    fn events(&self, e: &Estimate) -> String {
        match e.events {
            Some(k) => format!("{} ({k} reacted)", e.n),
            None => e.n.to_string(),
        }
    }
    fn friedman(&self, f: &Option<Friedman>) -> String {
        match f {
            Some(f) => format!(
                "χ² = {} (df {}), p = {}, W = {}",
                fmt_number(f.statistic),
                f.arms - 1,
                self.p(Some(f.p_value)),
                fmt_number(f.kendall_w)
            ),
            None => "–".into(),
        }
    }
    fn mean_ranks(&self, t: &RankTest) -> String {
        match &t.friedman {
            Some(f) => t
                .arms
                .iter()
                .zip(&f.mean_ranks)
                .map(|(a, r)| format!("{} {}", display_arm(a), fmt_number(*r)))
                .collect::<Vec<_>>()
                .join(", "),
            None => "–".into(),
        }
    }
    fn verdict_of(&self, v: &Option<Verdict>) -> &'static str {
        v.map_or("–", verdict_text)
    }
    fn csv_href(&self, id: &str) -> String {
        format!("csv/{id}.csv")
    }
    /// Each chart is a file of its own, loaded when scrolled to, so that
    /// the page stays light with many arms and cells.
    fn svg_href(&self, id: &str) -> String {
        format!("svg/{id}.svg")
    }
    fn trial_href(&self, id: impl Borrow<i64>) -> String {
        let id = id.borrow();
        match self.links {
            Links::Server => format!("trial/{id}"),
            Links::Static => format!("trial-{id}.html"),
        }
    }
    /// The declared primary endpoint of each question, whose finding
    /// leads its section.
    fn primary(&self, q: impl Borrow<Question>) -> Option<Metric> {
        let q = *q.borrow();
        METRICS
            .iter()
            .find(|m| m.question == q && m.primary)
            .map(|m| m.key)
    }
    fn is_primary(&self, row: &Comparison, q: impl Borrow<Question>) -> bool {
        self.primary(q) == Some(row.metric)
    }
    fn primary_key(&self, q: impl Borrow<Question>) -> &'static str {
        self.primary(q).map_or("", Metric::key)
    }
    fn significant(&self, row: &Comparison) -> bool {
        row.significant()
    }
    fn num(&self, x: impl Borrow<Option<f64>>) -> String {
        x.borrow().map(fmt_number).unwrap_or_else(|| "–".into())
    }
    fn p(&self, x: impl Borrow<Option<f64>>) -> String {
        x.borrow()
            .map(|p| {
                if p < 0.001 {
                    "<0.001".to_string()
                } else {
                    format!("{p:.3}")
                }
            })
            .unwrap_or_else(|| "–".into())
    }
    fn ci(&self, row: &Comparison) -> String {
        match (row.ci_low, row.ci_high, row.ci_level) {
            (Some(a), Some(b), Some(l)) => format!(
                "{} to {} ({} %)",
                fmt_number(a),
                fmt_number(b),
                fmt_number(l * 100.0)
            ),
            _ => "–".into(),
        }
    }
    fn margin(&self, row: &Comparison) -> String {
        row.margin
            .map(|m| format!("±{}", fmt_number(m)))
            .unwrap_or_else(|| "–".into())
    }
    fn role(&self, row: &Comparison) -> &'static str {
        if row.primary {
            "primary"
        } else {
            "secondary"
        }
    }
    fn verdict(&self, row: &Comparison) -> &'static str {
        verdict_text(row.verdict)
    }
    fn test_name(&self, row: &Comparison) -> &'static str {
        match row.design {
            Design::Paired => "Wilcoxon (paired)",
            Design::Unpaired => "Mann–Whitney",
            Design::Censored => "Gehan sign test (paired, censored)",
            Design::Identical => "none (identical)",
            Design::TooFew => "too few trials",
        }
    }
    /// n per arm, always; and the pairs of a paired comparison.
    /// Times to an event add the trials left out at max replicas.
    fn n_text(&self, row: &Comparison) -> String {
        let n = match row.design {
            Design::Paired | Design::Censored | Design::Identical => format!(
                "{} / {} ({} pairs)",
                row.n_baseline, row.n_treatment, row.n_pairs
            ),
            _ => format!("{} / {}", row.n_baseline, row.n_treatment),
        };
        match &row.time_to_event {
            Some(e) => format!(
                "{n}; at max when the load changed: {} / {}",
                e.at_max_baseline, e.at_max_treatment
            ),
            None => n,
        }
    }
}

/// A verdict in words.
fn verdict_text(v: Verdict) -> &'static str {
    match v {
        Verdict::Better => "better",
        Verdict::Worse => "worse",
        Verdict::Differs => "differs",
        Verdict::Equivalent => "equivalent",
        Verdict::CannotTell => "cannot tell",
        Verdict::Identical => "identical in every pair",
        Verdict::TooFew => "too few trials",
    }
}

/// A scaling event row of the trial page.
pub struct EventRow {
    /// Time, s.
    pub t_s: f64,
    /// Replicas before.
    pub from: i64,
    /// Replicas after.
    pub to: i64,
    /// Controller.
    pub controller: String,
    /// Reason.
    pub reason: String,
}

/// A decision row of the trial page.
pub struct DecisionRow {
    /// Time, s.
    pub t_s: f64,
    /// Controller.
    pub controller: String,
    /// Replicas seen.
    pub current: i64,
    /// Replicas wanted.
    pub desired: i64,
    /// Reason.
    pub reason: String,
    /// Inputs JSON.
    pub inputs_json: String,
}

/// One trial's page.
#[derive(Template)]
#[template(path = "trial.html")]
pub struct TrialPage {
    /// The trial.
    pub t: Trial,
    /// Its campaign.
    pub campaign_id: i64,
    /// Link back to the campaign.
    pub campaign_href: String,
    /// Time-series charts.
    pub charts: Vec<Chart>,
    /// Scaling events.
    pub events: Vec<EventRow>,
    /// Decisions.
    pub decisions: Vec<DecisionRow>,
}

/// An error page.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    /// Status line.
    pub status: &'a str,
    /// What went wrong, for the reader.
    pub message: &'a str,
}

/// Loads trial `trial_id` of campaign `campaign_id` for its page; `None` if
/// there is no such complete trial.
pub async fn trial_page(
    conn: &mut SqliteConnection,
    campaign_id: i64,
    trial_id: i64,
    links: Links,
) -> Result<Option<TrialPage>> {
    let Some(r) = sqlx::query(&format!(
        "SELECT {TRIAL_COLUMNS} FROM trials WHERE id = ? AND campaign_id = ? AND status = 'complete'"
    ))
    .bind(trial_id)
    .bind(campaign_id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let mut t = trial_from_row(&r)?;
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&t.params_json) {
        t.params_json = serde_json::to_string_pretty(&v).unwrap_or(t.params_json);
    }
    let steps = t.load_steps_s.clone();
    let rows = sqlx::query(
        "SELECT t_s, desired, ready, gpu_util_mean, cpu_pct_request, in_flight, queued, completed, failed
         FROM samples WHERE trial_id = ? ORDER BY t_s",
    )
    .bind(trial_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut cols: Vec<Vec<(f64, f64)>> = vec![Vec::new(); 8];
    for r in &rows {
        let t_s: f64 = r.try_get(0)?;
        cols[0].push((t_s, r.try_get::<i64, _>(1)? as f64));
        cols[1].push((t_s, r.try_get::<i64, _>(2)? as f64));
        cols[2].push((t_s, r.try_get::<f64, _>(3)?));
        cols[3].push((t_s, r.try_get::<f64, _>(4)?));
        cols[4].push((t_s, r.try_get::<i64, _>(5)? as f64));
        cols[5].push((t_s, r.try_get::<i64, _>(6)? as f64));
        cols[6].push((t_s, r.try_get::<i64, _>(7)? as f64));
        cols[7].push((t_s, r.try_get::<i64, _>(8)? as f64));
    }
    let latency: Vec<(f64, f64)> = sqlx::query(
        "SELECT finished_s, latency_ms FROM requests WHERE trial_id = ? AND outcome = 'ok' ORDER BY finished_s",
    )
    .bind(trial_id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
    .collect::<Result<_>>()?;
    let s = |label: &str, color, data: &Vec<(f64, f64)>| Series {
        label: label.to_string(),
        color,
        data: data.clone(),
    };
    let charts = vec![
        charts::lines(
            "replicas",
            "Replicas",
            "trial time (s)",
            "replicas (pods)",
            &[s("desired", ORANGE, &cols[0]), s("ready", BLUE, &cols[1])],
            true,
            &steps,
        )?,
        charts::lines(
            "utilisation",
            "GPU and CPU utilisation",
            "trial time (s)",
            "utilisation (%)",
            &[
                s("GPU (% busy)", GREEN, &cols[2]),
                s("CPU (% of request)", VERMILLION, &cols[3]),
            ],
            false,
            &steps,
        )?,
        charts::lines(
            "load",
            "Requests in the system and per second",
            "trial time (s)",
            "requests",
            &[
                s("in flight", BLUE, &cols[4]),
                s("queued", ORANGE, &cols[5]),
                s("completed / s", GREEN, &cols[6]),
                s("failed / s", VERMILLION, &cols[7]),
            ],
            false,
            &steps,
        )?,
        charts::scatter(
            "latency",
            "Latency of each successful request",
            "answered at (s)",
            "latency (ms)",
            &[Series {
                label: "requests".into(),
                color: BLUE,
                data: latency,
            }],
        )?,
    ];
    let events = sqlx::query(
        "SELECT t_s, from_replicas, to_replicas, controller, reason FROM scaling_events WHERE trial_id = ? ORDER BY seq",
    )
    .bind(trial_id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(EventRow {
            t_s: r.try_get(0)?,
            from: r.try_get(1)?,
            to: r.try_get(2)?,
            controller: r.try_get(3)?,
            reason: r.try_get(4)?,
        })
    })
    .collect::<Result<_>>()?;
    let decisions = sqlx::query(
        "SELECT t_s, controller, current_replicas, desired_replicas, reason, inputs_json FROM decisions WHERE trial_id = ? ORDER BY seq",
    )
    .bind(trial_id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(DecisionRow {
            t_s: r.try_get(0)?,
            controller: r.try_get(1)?,
            current: r.try_get(2)?,
            desired: r.try_get(3)?,
            reason: r.try_get(4)?,
            inputs_json: r.try_get(5)?,
        })
    })
    .collect::<Result<_>>()?;
    let campaign_href = match links {
        Links::Server => format!("/campaign/{campaign_id}/"),
        Links::Static => "index.html".into(),
    };
    Ok(Some(TrialPage {
        t,
        campaign_id,
        campaign_href,
        charts,
        events,
        decisions,
    }))
}
