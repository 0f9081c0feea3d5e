//! `tune --resume ID`: continue an interrupted or failed session of the same repository. The
//! settings come from the stored session; its search trials are carried into the new session
//! (recorded there as `imported`, told to the optimizer, counted toward `--trials`), and only
//! the default, the heuristic and new trials are measured, on a fresh staging server.

use std::path::Path;

use anyhow::Result;
use knobs::Config;
use models::Outcome;
use workloads::Measurement;

use super::{NamedTarget, StagingChoice, TuneSettings};
use crate::repository::Repository;
use crate::BadInput;

/// The settings of session `id` in `out`'s repository, to continue it with a new time budget.
/// A session on a named server resumes only on the same server, re-supplied as `target`
/// (the URL's password and the restart command were never stored); a sandbox session only
/// on a new sandbox. Anything else is refused rather than run somewhere else.
pub async fn resume_settings(
    out: &Path,
    id: i64,
    time_budget: std::time::Duration,
    target: Option<NamedTarget>,
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
    settings.staging = resumed_staging(id, settings.staging, target)?;
    settings.out = out.to_path_buf();
    settings.time_budget = time_budget;
    settings.resume_from = Some(id);
    Ok(settings)
}

/// Where session `id`, which ran on `stored`, continues, given the `--target` of this run.
fn resumed_staging(
    id: i64,
    stored: StagingChoice,
    given: Option<NamedTarget>,
) -> Result<StagingChoice, BadInput> {
    match (stored, given) {
        (StagingChoice::Sandbox(engine), None) => Ok(StagingChoice::Sandbox(engine)),
        (StagingChoice::Sandbox(_), Some(given)) => Err(BadInput(format!(
            "--resume {id}: session {id} ran on a sandbox, not on {}; resume it without --target",
            given.url
        ))),
        (StagingChoice::Target(stored), None) => Err(BadInput(format!(
            "--resume {id}: session {id} ran on the staging server {}; give --target with that URL again{} (passwords are not stored)",
            stored.url,
            if stored.allow_restart {
                ", and --allow-restart --restart-command"
            } else {
                ""
            }
        ))),
        (StagingChoice::Target(stored), Some(given)) => {
            // Compared without passwords: a changed password is still the same server.
            if given.url != stored.url {
                return Err(BadInput(format!(
                    "--resume {id}: session {id} ran on {}, not on {}; resume it on the same --target",
                    stored.url, given.url
                )));
            }
            if given.allow_restart != stored.allow_restart {
                return Err(BadInput(format!(
                    "--resume {id}: session {id} ran {} --allow-restart; resume it the same way (its search space depends on it)",
                    if stored.allow_restart { "with" } else { "without" }
                )));
            }
            Ok(StagingChoice::Target(given))
        }
    }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn named(url: &str, allow_restart: bool) -> NamedTarget {
        NamedTarget::new(url.parse().unwrap(), allow_restart, None)
    }

    #[test]
    fn a_target_session_resumes_only_on_the_same_target_never_on_a_sandbox() {
        let stored = StagingChoice::Target(named("postgres://u:old@db1:5432/postgres", false));
        // No --target: refused, naming the URL without its password.
        let e = resumed_staging(7, stored.clone(), None).unwrap_err();
        assert!(e.0.contains("--target") && e.0.contains("db1"), "{e}");
        assert!(!e.0.contains("old"), "{e}");
        // Another server: refused.
        let e = resumed_staging(
            7,
            stored.clone(),
            Some(named("postgres://u@db2/postgres", false)),
        )
        .unwrap_err();
        assert!(e.0.contains("db2"), "{e}");
        // Restarts allowed now but not then: refused.
        assert!(resumed_staging(
            7,
            stored.clone(),
            Some(named("postgres://u:new@db1:5432/postgres", true))
        )
        .is_err());
        // The same server with another password: resumed there, with the URL as given now.
        let StagingChoice::Target(t) = resumed_staging(
            7,
            stored,
            Some(named("postgres://u:new@db1:5432/postgres", false)),
        )
        .unwrap() else {
            panic!("not a target")
        };
        assert!(t.connect.unwrap().expose().contains("new"));
        // A sandbox session is not moved onto a named server.
        let e = resumed_staging(
            7,
            StagingChoice::Sandbox(knobs::Engine::Postgres),
            Some(named("postgres://u@db1/postgres", false)),
        )
        .unwrap_err();
        assert!(e.0.contains("sandbox"), "{e}");
    }

    #[test]
    fn a_stored_target_keeps_no_password_and_no_restart_command() {
        let t = NamedTarget::new(
            "postgres://u:secret1@db1/postgres".parse().unwrap(),
            true,
            Some("PGPASSWORD=secret2 pg_ctl restart".into()),
        );
        let json = serde_json::to_string(&StagingChoice::Target(t.clone())).unwrap();
        assert!(
            !json.contains("secret1") && !json.contains("secret2"),
            "{json}"
        );
        let debug = format!("{t:?}");
        assert!(
            !debug.contains("secret1") && !debug.contains("secret2"),
            "{debug}"
        );
        let back: StagingChoice = serde_json::from_str(&json).unwrap();
        let StagingChoice::Target(back) = back else {
            panic!("not a target")
        };
        assert!(back.connect.is_none() && back.restart_command.is_none());
        assert!(back.allow_restart);
    }
}
