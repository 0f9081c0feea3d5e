//! What one scrape of a target saw: cumulative counters, point-in-time gauges, the top
//! statements, sampled wait events, host figures, and what could not be read.
//!
//! Keys are `group/field` (`pg_stat_database/app/xact_commit`, `global_status/Com_commit`). A
//! group is the unit of reset: it may carry a reset marker (the view's `stats_reset`), and
//! [`super::delta`] treats a changed marker as "this group restarted from zero".

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// One scrape of one target.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Wall-clock time of the scrape, milliseconds since the Unix epoch.
    pub taken_at_ms: i64,
    /// The target's URL without its password.
    pub target: String,
    /// `postgres`, `mysql` or `mariadb`.
    pub engine: String,
    pub server_version: String,
    /// When the server started (seconds since the epoch); a change means a restart.
    pub server_started_at: Option<f64>,
    /// Monotonic counters by `group/field`.
    pub counters: BTreeMap<String, f64>,
    /// Point-in-time values by `group/field`.
    pub gauges: BTreeMap<String, f64>,
    /// Reset markers by group (seconds since the epoch of the group's last reset).
    pub resets: BTreeMap<String, f64>,
    /// Top statements by total time.
    pub statements: Vec<StatementStat>,
    /// Sessions seen waiting, by `type:event`, summed over the samples taken.
    pub waits: BTreeMap<String, u64>,
    /// How many times the activity view was sampled for `waits`.
    pub wait_samples: u32,
    /// What could not be read, and how to fix it.
    pub notices: Vec<Notice>,
    /// How long the scrape took, milliseconds.
    pub collect_ms: f64,
}

/// One statement template's cumulative figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatementStat {
    /// `queryid` (PostgreSQL) or digest (MySQL), as text.
    pub id: String,
    /// Normalized text, shortened; empty when the role may not see it.
    pub text: String,
    pub calls: f64,
    pub total_time_ms: f64,
    pub rows: f64,
    /// Blocks (pages) read from outside the buffer cache; MySQL: rows examined.
    pub blocks_read: f64,
    pub blocks_hit: f64,
}

/// Something the collector could not read, named once with the way to fix it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Notice {
    /// What could not be read (a view, an extension, a privilege).
    pub source: String,
    /// What went wrong.
    pub problem: String,
    /// What to do about it.
    pub fix: String,
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}; {}", self.source, self.problem, self.fix)
    }
}

impl Snapshot {
    /// Sum of the counters named `prefix…/field` (e.g. all databases' `xact_commit`).
    pub fn counter_sum(&self, group_prefix: &str, field: &str) -> Option<f64> {
        sum_matching(&self.counters, group_prefix, field)
    }

    /// Sum of the gauges named `prefix…/field`.
    pub fn gauge_sum(&self, group_prefix: &str, field: &str) -> Option<f64> {
        sum_matching(&self.gauges, group_prefix, field)
    }
}

pub(crate) fn sum_matching(
    map: &BTreeMap<String, f64>,
    group_prefix: &str,
    field: &str,
) -> Option<f64> {
    let mut found = false;
    let mut total = 0.0;
    for (key, value) in map.range(group_prefix.to_string()..) {
        if !key.starts_with(group_prefix) {
            break;
        }
        if split_key(key).1 == field {
            found = true;
            total += value;
        }
    }
    found.then_some(total)
}

/// `group/field` → (group, field); the field is after the last `/`.
pub fn split_key(key: &str) -> (&str, &str) {
    key.rsplit_once('/').unwrap_or(("", key))
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_a_field_across_groups_with_a_prefix() {
        let mut s = Snapshot::default();
        s.counters
            .insert("pg_stat_database/a/xact_commit".into(), 5.0);
        s.counters
            .insert("pg_stat_database/b/xact_commit".into(), 7.0);
        s.counters
            .insert("pg_stat_database/b/xact_rollback".into(), 1.0);
        s.counters.insert("pg_stat_wal/wal_bytes".into(), 100.0);
        assert_eq!(
            s.counter_sum("pg_stat_database/", "xact_commit"),
            Some(12.0)
        );
        assert_eq!(s.counter_sum("pg_stat_database/", "nope"), None);
        assert_eq!(
            split_key("pg_stat_io/client backend:relation:normal/reads").1,
            "reads"
        );
    }
}
