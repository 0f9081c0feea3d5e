//! Telemetry around a unit of work (a trial's measurement window): a snapshot before, a
//! snapshot after, and the delta. Telemetry that fails never fails the work: it is logged and
//! the observation is simply missing.

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Collector, Delta, Snapshot};

/// What the target did while the work ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    pub before: Snapshot,
    pub after: Snapshot,
    pub delta: Delta,
}

/// Run `work` between two snapshots. `settle` is waited after the work, before the second
/// snapshot: PostgreSQL backends hand over their counts when they go idle or exit, up to a
/// second later (1 s is enough for the driver's sessions, which exit at its end).
pub async fn observe<T>(
    collector: &mut Collector,
    settle: Duration,
    work: impl Future<Output = T>,
) -> (T, Option<Observed>) {
    let before = collector
        .collect()
        .await
        .inspect_err(|e| tracing::warn!(error = %e, "no telemetry before the work"))
        .ok();
    let output = work.await;
    let Some(before) = before else {
        return (output, None);
    };
    tokio::time::sleep(settle).await;
    let after = match collector.collect().await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "no telemetry after the work");
            return (output, None);
        }
    };
    let delta = Delta::between(&before, &after);
    (
        output,
        Some(Observed {
            before,
            after,
            delta,
        }),
    )
}
