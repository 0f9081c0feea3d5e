//! Deltas and rates between two snapshots of the same target, and the derived metrics the
//! optimizer, the gate and the reports read (TPS, hit ratio, checkpoints, WAL per transaction,
//! mean statement latency).
//!
//! A delta is never negative. A counter restarts from zero on `pg_stat_reset()`,
//! `FLUSH STATUS`, a statements reset or a server restart; when that is seen (a group's reset
//! marker changed, the server's start time changed on an engine that loses its counters, or a
//! counter went down) the delta is the current value: what was counted since the reset, a
//! lower bound of the interval's activity.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::snapshot::{split_key, sum_matching, Snapshot, StatementStat};

/// What happened between two snapshots.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    pub from_ms: i64,
    pub to_ms: i64,
    pub seconds: f64,
    /// The server restarted in between.
    pub restarted: bool,
    /// Groups whose counters were reset in between (by marker or because a counter fell).
    pub reset_groups: BTreeSet<String>,
    /// Non-negative change of every counter present in both snapshots (or reset in between).
    pub counters: BTreeMap<String, f64>,
    /// Statements by time spent in the interval, most first.
    pub statements: Vec<StatementStat>,
    pub derived: Derived,
}

/// Figures a person or an optimizer reads first. `None` when the server does not expose the
/// inputs (or the role may not read them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Derived {
    /// Committed transactions per second.
    pub tps: Option<f64>,
    pub commits: Option<f64>,
    pub rollbacks: Option<f64>,
    /// Share of page reads served from the buffer cache, 0..=1.
    pub buffer_hit_ratio: Option<f64>,
    pub checkpoints_timed: Option<f64>,
    pub checkpoints_requested: Option<f64>,
    /// Bytes written to temporary files (sorts and hashes that spilled).
    pub temp_bytes: Option<f64>,
    /// Spills to disk: temp files (PostgreSQL) or on-disk temp tables (MySQL).
    pub temp_spills: Option<f64>,
    pub wal_bytes: Option<f64>,
    pub wal_bytes_per_xact: Option<f64>,
    pub statement_calls: Option<f64>,
    /// Mean execution time per statement call, milliseconds.
    pub mean_statement_latency_ms: Option<f64>,
    /// Most frequent waits in the later snapshot's samples.
    pub top_waits: Vec<(String, u64)>,
}

/// Seconds by which two start times may differ and still be the same server run (MySQL's
/// start time is computed from `Uptime`, which has a one-second grain).
const START_TIME_SLACK: f64 = 2.5;
const TOP_STATEMENTS: usize = 20;
const TOP_WAITS: usize = 5;

impl Delta {
    /// The change from `prev` to `cur` (taken in that order, of the same target).
    pub fn between(prev: &Snapshot, cur: &Snapshot) -> Delta {
        let seconds = (cur.taken_at_ms - prev.taken_at_ms) as f64 / 1000.0;
        let restarted = match (prev.server_started_at, cur.server_started_at) {
            (Some(a), Some(b)) => (a - b).abs() > START_TIME_SLACK,
            _ => false,
        };
        // PostgreSQL keeps its statistics across a clean restart (and loses them on a crash,
        // which the falling counters show); MySQL and MariaDB always start from zero.
        let restart_resets_all = restarted && cur.engine != "postgres";

        let mut reset_groups: BTreeSet<String> = BTreeSet::new();
        for (group, marker) in &cur.resets {
            if prev
                .resets
                .get(group)
                .is_none_or(|p| (p - marker).abs() > 1e-6)
            {
                reset_groups.insert(group.clone());
            }
        }
        for group in prev.resets.keys() {
            if !cur.resets.contains_key(group) && cur_has_group(cur, group) {
                reset_groups.insert(group.clone());
            }
        }

        let mut counters = BTreeMap::new();
        for (key, &now) in &cur.counters {
            let group = split_key(key).0;
            let marked = reset_groups.contains(group) || restart_resets_all;
            let value = match prev.counters.get(key) {
                _ if marked => now,
                Some(&before) if now >= before => now - before,
                Some(_) => {
                    reset_groups.insert(group.to_string());
                    now
                }
                // No baseline: a new row (a database, an I/O context) has no interval to count.
                None => continue,
            };
            counters.insert(key.clone(), value.max(0.0));
        }

        let statements_reset = restart_resets_all
            || reset_groups
                .iter()
                .any(|g| g == "pg_stat_statements" || g == "statement_digests");
        let statements = statement_deltas(&prev.statements, &cur.statements, statements_reset);

        let mut delta = Delta {
            from_ms: prev.taken_at_ms,
            to_ms: cur.taken_at_ms,
            seconds,
            restarted,
            reset_groups,
            counters,
            statements,
            derived: Derived::default(),
        };
        delta.derived = derive(&delta, cur);
        delta
    }

    /// Change of one counter.
    pub fn get(&self, key: &str) -> Option<f64> {
        self.counters.get(key).copied()
    }

    /// Per-second rate of one counter.
    pub fn rate(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(|d| per_second(d, self.seconds))
    }

    /// Change of `prefix…/field` summed over groups.
    pub fn sum(&self, group_prefix: &str, field: &str) -> Option<f64> {
        sum_matching(&self.counters, group_prefix, field)
    }
}

fn cur_has_group(cur: &Snapshot, group: &str) -> bool {
    cur.counters.keys().any(|k| split_key(k).0 == group)
}

fn per_second(value: f64, seconds: f64) -> Option<f64> {
    (seconds > 0.0).then(|| value / seconds)
}

fn ratio(part: Option<f64>, whole: Option<f64>) -> Option<f64> {
    match (part, whole) {
        (Some(p), Some(w)) if w > 0.0 => Some(p / w),
        _ => None,
    }
}

fn statement_deltas(
    prev: &[StatementStat],
    cur: &[StatementStat],
    reset: bool,
) -> Vec<StatementStat> {
    let before: BTreeMap<&str, &StatementStat> = prev.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut out: Vec<StatementStat> = cur
        .iter()
        .filter_map(|s| {
            let d = match before.get(s.id.as_str()) {
                Some(p) if !reset && s.calls >= p.calls && s.total_time_ms >= p.total_time_ms => {
                    StatementStat {
                        id: s.id.clone(),
                        text: s.text.clone(),
                        calls: s.calls - p.calls,
                        total_time_ms: s.total_time_ms - p.total_time_ms,
                        rows: (s.rows - p.rows).max(0.0),
                        blocks_read: (s.blocks_read - p.blocks_read).max(0.0),
                        blocks_hit: (s.blocks_hit - p.blocks_hit).max(0.0),
                    }
                }
                // New in the list, or reset: everything it shows happened since.
                _ => s.clone(),
            };
            (d.calls > 0.0).then_some(d)
        })
        .collect();
    out.sort_by(|a, b| b.total_time_ms.total_cmp(&a.total_time_ms));
    out.truncate(TOP_STATEMENTS);
    out
}

fn derive(d: &Delta, cur: &Snapshot) -> Derived {
    let mut out = if cur.engine == "postgres" {
        derive_postgres(d)
    } else {
        derive_mysql(d)
    };
    out.tps = out.commits.and_then(|c| per_second(c, d.seconds));
    out.wal_bytes_per_xact = ratio(out.wal_bytes, out.commits);
    let mut waits: Vec<(String, u64)> = cur.waits.iter().map(|(k, v)| (k.clone(), *v)).collect();
    waits.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    waits.truncate(TOP_WAITS);
    out.top_waits = waits;
    out
}

fn derive_postgres(d: &Delta) -> Derived {
    let db = "pg_stat_database/";
    let hit = d.sum(db, "blks_hit");
    let read = d.sum(db, "blks_read");
    let (timed, requested) = if d
        .counters
        .keys()
        .any(|k| k.starts_with("pg_stat_checkpointer/"))
    {
        (
            d.get("pg_stat_checkpointer/num_timed"),
            d.get("pg_stat_checkpointer/num_requested"),
        )
    } else {
        (
            d.get("pg_stat_bgwriter/checkpoints_timed"),
            d.get("pg_stat_bgwriter/checkpoints_req"),
        )
    };
    let calls = d.get("pg_stat_statements/calls");
    Derived {
        commits: d.sum(db, "xact_commit"),
        rollbacks: d.sum(db, "xact_rollback"),
        buffer_hit_ratio: ratio(hit, hit.zip(read).map(|(h, r)| h + r)),
        checkpoints_timed: timed,
        checkpoints_requested: requested,
        temp_bytes: d.sum(db, "temp_bytes"),
        temp_spills: d.sum(db, "temp_files"),
        wal_bytes: d
            .get("pg_stat_wal/wal_bytes")
            .or_else(|| d.get("wal_position/bytes")),
        statement_calls: calls,
        mean_statement_latency_ms: ratio(d.get("pg_stat_statements/total_exec_time_ms"), calls),
        ..Derived::default()
    }
}

fn derive_mysql(d: &Delta) -> Derived {
    let s = |name: &str| d.get(&format!("global_status/{name}"));
    let requests = s("Innodb_buffer_pool_read_requests");
    let misses = s("Innodb_buffer_pool_reads");
    let calls = d.get("statement_digests/calls");
    Derived {
        commits: s("Com_commit"),
        rollbacks: s("Com_rollback"),
        buffer_hit_ratio: ratio(
            requests.zip(misses).map(|(r, m)| (r - m).max(0.0)),
            requests,
        ),
        temp_spills: s("Created_tmp_disk_tables"),
        wal_bytes: s("Innodb_os_log_written"),
        statement_calls: calls,
        mean_statement_latency_ms: ratio(d.get("statement_digests/total_time_ms"), calls),
        ..Derived::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(engine: &str, at_ms: i64, started: f64, counters: &[(&str, f64)]) -> Snapshot {
        Snapshot {
            taken_at_ms: at_ms,
            engine: engine.into(),
            server_started_at: Some(started),
            counters: counters.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            ..Snapshot::default()
        }
    }

    #[test]
    fn rates_and_derived_metrics_have_known_answers() {
        let a = snap(
            "postgres",
            0,
            100.0,
            &[
                ("pg_stat_database/app/xact_commit", 1000.0),
                ("pg_stat_database/app/blks_hit", 900.0),
                ("pg_stat_database/app/blks_read", 100.0),
                ("pg_stat_wal/wal_bytes", 0.0),
                ("pg_stat_bgwriter/checkpoints_timed", 1.0),
                ("pg_stat_bgwriter/checkpoints_req", 0.0),
                ("pg_stat_statements/calls", 10.0),
                ("pg_stat_statements/total_exec_time_ms", 10.0),
            ],
        );
        let b = snap(
            "postgres",
            10_000,
            100.0,
            &[
                ("pg_stat_database/app/xact_commit", 1500.0),
                ("pg_stat_database/app/blks_hit", 1890.0),
                ("pg_stat_database/app/blks_read", 110.0),
                ("pg_stat_wal/wal_bytes", 500_000.0),
                ("pg_stat_bgwriter/checkpoints_timed", 1.0),
                ("pg_stat_bgwriter/checkpoints_req", 2.0),
                ("pg_stat_statements/calls", 110.0),
                ("pg_stat_statements/total_exec_time_ms", 60.0),
            ],
        );
        let d = Delta::between(&a, &b);
        assert!(!d.restarted);
        assert_eq!(d.seconds, 10.0);
        assert_eq!(d.derived.commits, Some(500.0));
        assert_eq!(d.derived.tps, Some(50.0));
        assert_eq!(d.derived.buffer_hit_ratio, Some(0.99));
        assert_eq!(d.derived.checkpoints_requested, Some(2.0));
        assert_eq!(d.derived.checkpoints_timed, Some(0.0));
        assert_eq!(d.derived.wal_bytes_per_xact, Some(1000.0));
        assert_eq!(d.derived.mean_statement_latency_ms, Some(0.5));
        assert_eq!(d.rate("pg_stat_wal/wal_bytes"), Some(50_000.0));
    }

    #[test]
    fn a_reset_marker_or_a_falling_counter_never_gives_a_negative_delta() {
        let mut a = snap(
            "postgres",
            0,
            100.0,
            &[("pg_stat_database/app/xact_commit", 1000.0)],
        );
        let mut b = snap(
            "postgres",
            5_000,
            100.0,
            &[("pg_stat_database/app/xact_commit", 1200.0)],
        );
        a.resets.insert("pg_stat_database/app".into(), 50.0);
        b.resets.insert("pg_stat_database/app".into(), 103.0);
        // The reset happened, then 1200 commits: all of them are in the interval.
        let d = Delta::between(&a, &b);
        assert_eq!(d.get("pg_stat_database/app/xact_commit"), Some(1200.0));
        assert!(d.reset_groups.contains("pg_stat_database/app"));

        // No marker (pg_stat_statements_reset on an old version): the fall shows it.
        let a = snap("postgres", 0, 100.0, &[("pg_stat_statements/calls", 900.0)]);
        let b = snap(
            "postgres",
            5_000,
            100.0,
            &[("pg_stat_statements/calls", 40.0)],
        );
        let d = Delta::between(&a, &b);
        assert_eq!(d.get("pg_stat_statements/calls"), Some(40.0));
    }

    #[test]
    fn a_mysql_restart_resets_every_counter() {
        let a = snap("mariadb", 0, 1000.0, &[("global_status/Com_commit", 10.0)]);
        let b = snap(
            "mariadb",
            60_000,
            1050.0,
            &[("global_status/Com_commit", 30.0)],
        );
        let d = Delta::between(&a, &b);
        assert!(d.restarted);
        assert_eq!(d.get("global_status/Com_commit"), Some(30.0));
        // Uptime's one-second grain is not a restart.
        let c = snap(
            "mariadb",
            70_000,
            1051.0,
            &[("global_status/Com_commit", 35.0)],
        );
        let d = Delta::between(&b, &c);
        assert!(!d.restarted);
        assert_eq!(d.get("global_status/Com_commit"), Some(5.0));
    }

    #[test]
    fn statement_deltas_rank_by_time_in_the_interval() {
        let st = |id: &str, calls: f64, ms: f64| StatementStat {
            id: id.into(),
            calls,
            total_time_ms: ms,
            ..StatementStat::default()
        };
        let a = Snapshot {
            statements: vec![st("1", 100.0, 1000.0), st("2", 10.0, 10.0)],
            ..Snapshot::default()
        };
        let b = Snapshot {
            taken_at_ms: 1000,
            statements: vec![
                st("1", 101.0, 1001.0),
                st("2", 20.0, 510.0),
                st("3", 1.0, 2.0),
            ],
            ..Snapshot::default()
        };
        let d = Delta::between(&a, &b);
        let ids: Vec<&str> = d.statements.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["2", "3", "1"]);
        assert_eq!(d.statements[0].calls, 10.0);
    }
}

#[cfg(test)]
mod version_tests {
    use super::*;

    #[test]
    fn postgres_17_checkpoints_come_from_the_checkpointer_and_13_wal_from_the_lsn() {
        let snap = |at: i64, ckpt: f64, lsn: f64| Snapshot {
            taken_at_ms: at,
            engine: "postgres".into(),
            counters: [
                ("pg_stat_checkpointer/num_timed".to_string(), ckpt),
                ("pg_stat_checkpointer/num_requested".to_string(), 2.0 * ckpt),
                ("pg_stat_bgwriter/buffers_clean".to_string(), 1.0),
                ("wal_position/bytes".to_string(), lsn),
                ("pg_stat_database/db/xact_commit".to_string(), lsn / 100.0),
            ]
            .into_iter()
            .collect(),
            ..Snapshot::default()
        };
        let d = Delta::between(&snap(0, 1.0, 1000.0), &snap(1000, 3.0, 11_000.0));
        assert_eq!(d.derived.checkpoints_timed, Some(2.0));
        assert_eq!(d.derived.checkpoints_requested, Some(4.0));
        assert_eq!(d.derived.wal_bytes, Some(10_000.0));
        assert_eq!(d.derived.wal_bytes_per_xact, Some(100.0));
    }
}
