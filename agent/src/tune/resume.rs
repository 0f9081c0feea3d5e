//! `tune --resume ID`: continue an interrupted or failed session of the same repository. The
//! settings come from the stored session; its search trials are carried into the new session
//! (recorded there as `imported`, told to the optimizer, counted toward `--trials`), and only
//! the default, the heuristic and new trials are measured, on a fresh staging server.

use std::path::Path;

use anyhow::Result;
use knobs::Config;
use models::Outcome;
use workloads::Measurement;

use super::TuneSettings;
use crate::repository::Repository;
use crate::BadInput;

/// The settings of session `id` in `out`'s repository, to continue it with a new time budget.
pub async fn resume_settings(
    out: &Path,
    id: i64,
    time_budget: std::time::Duration,
) -> Result<TuneSettings> {
    let path = out.join("dbtuner.db");
    if !path.exists() {
        return Err(BadInput(format!(
            "--resume {id}: no repository at {} (give the --out of the session to resume)",
            path.display()
        ))
        .into());
    }
    let repo = crate::repository::open(&path.to_string_lossy()).await?;
    let session = repo.session(id).await?.ok_or_else(|| {
        BadInput(format!(
            "--resume {id}: no session {id} in {}",
            path.display()
        ))
    })?;
    if !matches!(
        session.status.as_str(),
        "interrupted" | "failed" | "running"
    ) {
        return Err(BadInput(format!(
            "--resume {id}: session {id} finished ({}); there is nothing to continue",
            session.status
        ))
        .into());
    }
    let stored = session
        .settings
        .get("tune_settings")
        .cloned()
        .ok_or_else(|| {
            BadInput(format!(
                "--resume {id}: session {id} was written by an older dbtuner without its settings"
            ))
        })?;
    let mut settings: TuneSettings = serde_json::from_value(stored).map_err(|e| {
        BadInput(format!(
            "--resume {id}: its stored settings do not read: {e}"
        ))
    })?;
    settings.out = out.to_path_buf();
    settings.time_budget = time_budget;
    settings.resume_from = Some(id);
    Ok(settings)
}

/// A search trial of the earlier session.
#[derive(Debug, Clone)]
pub struct Imported {
    pub seq: i64,
    pub config: Config,
    pub outcome: Outcome,
    pub measurement: Option<Measurement>,
    /// The stored measurement, copied into the new session.
    pub raw: serde_json::Value,
}

/// The earlier session's search trials (the default and the heuristic are measured again).
pub async fn imported_trials(repo: &dyn Repository, id: i64) -> Result<Vec<Imported>> {
    let mut out = Vec::new();
    for t in repo.trials(id).await? {
        let trial = t.trial;
        if trial.seq < 2 {
            continue;
        }
        let Ok(config) = serde_json::from_value::<Config>(trial.config.clone()) else {
            tracing::warn!(
                seq = trial.seq,
                "resume: a trial's configuration does not read; left out"
            );
            continue;
        };
        let score = trial
            .measurement
            .get("score")
            .and_then(serde_json::Value::as_f64);
        let measured = matches!(trial.status.as_str(), "measured" | "imported") && score.is_some();
        let outcome = match score {
            Some(s) if measured => Outcome::Value(s),
            _ => Outcome::Failed(
                trial
                    .measurement
                    .get("reason")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("failed in the earlier session")
                    .to_string(),
            ),
        };
        let measurement = trial
            .measurement
            .get("measurement")
            .and_then(|m| serde_json::from_value::<Measurement>(m.clone()).ok());
        out.push(Imported {
            seq: trial.seq,
            config,
            outcome,
            measurement,
            raw: trial.measurement,
        });
    }
    Ok(out)
}
