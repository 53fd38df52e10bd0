//! `report render`: a static copy of the whole report (self-contained HTML
//! with inline SVG, CSV files) for sharing, or the tables as JSON.

use std::path::{Path, PathBuf};

use askama::Template;

use crate::dataset::{self, connect_read_only};
use crate::pages::{self, CampaignPage, IndexPage, Links};
use crate::report::{self, CampaignReport, ReportOptions};
use crate::{Error, Result};

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })
}

fn mkdir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })
}

/// Every campaign's report (or only `only`), built from the dataset.
pub async fn reports(
    db: &Path,
    opts: ReportOptions,
    only: Option<i64>,
) -> Result<Vec<CampaignReport>> {
    let mut conn = connect_read_only(db).await?;
    let mut out = Vec::new();
    for c in dataset::campaigns(&mut conn).await? {
        if only.is_some_and(|id| id != c.id) {
            continue;
        }
        if let Some(data) = dataset::load_campaign(&mut conn, db, c.id).await? {
            out.push(report::build_detached(&data, opts)?);
        }
    }
    if let Some(id) = only {
        if out.is_empty() {
            return Err(Error::Dataset(format!(
                "there is no campaign {id} in {}",
                db.display()
            )));
        }
    }
    Ok(out)
}

/// The comparison tables and per-trial metrics of every campaign, as JSON.
pub async fn json(db: &Path, opts: ReportOptions, only: Option<i64>) -> Result<String> {
    let reports = reports(
        db,
        ReportOptions {
            charts: false,
            ..opts
        },
        only,
    )
    .await?;
    serde_json::to_string_pretty(&serde_json::json!({
        "dataset": db.display().to_string(),
        "campaigns": reports,
    }))
    .map_err(|e| Error::Dataset(e.to_string()))
}

/// Writes the static report into `out` (replaced as a whole once complete:
/// a failed render leaves any previous copy untouched). Returns the index
/// path.
pub async fn html(db: &Path, out: &Path, opts: ReportOptions) -> Result<PathBuf> {
    let mut conn = connect_read_only(db).await?;
    let campaigns = dataset::campaigns(&mut conn).await?;
    let partial = out.with_extension("partial");
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(|e| Error::Io {
            path: partial.clone(),
            source: e,
        })?;
    }
    mkdir(&partial)?;
    let db_name = db.display().to_string();
    write(
        &partial.join("index.html"),
        &IndexPage {
            db: &db_name,
            campaigns: &campaigns,
            links: Links::Static,
        }
        .render()?,
    )?;
    for c in &campaigns {
        let Some(data) = dataset::load_campaign(&mut conn, db, c.id).await? else {
            continue;
        };
        let r = report::build_detached(&data, opts)?;
        let dir = partial.join(format!("campaign-{}", c.id));
        mkdir(&dir.join("csv"))?;
        mkdir(&dir.join("svg"))?;
        let page = CampaignPage {
            r: &r,
            links: Links::Static,
            index_href: "../index.html",
            json_href: "report.json",
        };
        write(&dir.join("index.html"), &page.render()?)?;
        write(
            &dir.join("report.json"),
            &serde_json::to_string_pretty(&r).map_err(|e| Error::Dataset(e.to_string()))?,
        )?;
        for chart in r.charts() {
            write(
                &dir.join("csv").join(format!("{}.csv", chart.id)),
                &chart.csv,
            )?;
            write(
                &dir.join("svg").join(format!("{}.svg", chart.id)),
                &chart.svg,
            )?;
        }
        for t in &data.trials {
            if let Some(p) = pages::trial_page(&mut conn, c.id, t.id, Links::Static).await? {
                write(&dir.join(format!("trial-{}.html", t.id)), &p.render()?)?;
            }
        }
    }
    if out.exists() {
        std::fs::remove_dir_all(out).map_err(|e| Error::Io {
            path: out.to_path_buf(),
            source: e,
        })?;
    }
    std::fs::rename(&partial, out).map_err(|e| Error::Io {
        path: out.to_path_buf(),
        source: e,
    })?;
    Ok(out.join("index.html"))
}
