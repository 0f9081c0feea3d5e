//! Built-in benchmarks, each a workload spec plus its own schema and loader, for PostgreSQL
//! and MySQL/MariaDB: `tpcb` (pgbench-like), `select-only` (pgbench -S-like, on the tpcb
//! tables), `tpcc` (TPC-C-like: the five transactions in TPC-C's mix), `ycsb-a`, `ycsb-b`, `ycsb-c`, `ycsb-e` (zipfian keys), `olap` (a star schema
//! with analytic queries) and `tpch` (TPC-H-like: the eight TPC-H tables from `tpchgen` at a
//! fractional scale factor, and the 22 queries with qgen-like parameters).

mod olap;
mod tpcc;
mod tpch;
mod ycsb;

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::spec::WorkloadSpec;
use crate::target::{connect_mysql, connect_postgres};
use crate::tpcb::Tpcb;
use crate::{Result, TargetUrl, WorkloadError};

/// Names users can pass to `--workload`.
pub const NAMES: &[&str] = &[
    "tpcb",
    "select-only",
    "tpcc",
    "ycsb-a",
    "ycsb-b",
    "ycsb-c",
    "ycsb-e",
    "olap",
    "tpch",
];

/// A built-in benchmark at a scale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Builtin {
    pub name: String,
    /// The scale as a whole number: for `tpch` the scale factor in thousandths (SF 0.1 is 100),
    /// for the others the scale itself. [`Builtin::scale_factor`] reads it either way.
    pub scale: u32,
}

/// What a load did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadReport {
    pub rows: u64,
    pub seconds: f64,
}

impl Builtin {
    /// A built-in by name; an unknown name lists the valid ones. For `tpch`, `scale` is the
    /// scale factor (1 ..= 100); [`Builtin::with_scale`] takes fractional ones.
    pub fn new(name: &str, scale: u32) -> Result<Builtin> {
        if name == "tpch" {
            return Builtin::with_scale(name, f64::from(scale));
        }
        Builtin::named(name)?;
        if scale == 0 || scale > 10_000 {
            return Err(WorkloadError::Invalid {
                name: name.to_string(),
                reason: format!("scale {scale} is outside 1 ..= 10000"),
            });
        }
        Ok(Builtin {
            name: name.to_string(),
            scale,
        })
    }

    /// A built-in at a scale that may be fractional: `tpch` takes a scale factor from 0.001 to
    /// 100 in steps of 0.001 (0.01, 0.1, 0.3, 1 …); the others a whole number from 1 to 10000.
    pub fn with_scale(name: &str, scale: f64) -> Result<Builtin> {
        Builtin::named(name)?;
        let invalid = |reason: String| WorkloadError::Invalid {
            name: name.to_string(),
            reason,
        };
        if name == "tpch" {
            let thousandths = (scale * 1000.0).round();
            if !(scale.is_finite()
                && (f64::from(tpch::MIN_THOUSANDTHS)..=f64::from(tpch::MAX_THOUSANDTHS))
                    .contains(&thousandths))
            {
                return Err(invalid(format!(
                    "scale factor {scale} is outside 0.001 ..= 100"
                )));
            }
            if (scale * 1000.0 - thousandths).abs() > 1e-6 {
                return Err(invalid(format!(
                    "scale factor {scale} is not a multiple of 0.001"
                )));
            }
            return Ok(Builtin {
                name: name.to_string(),
                scale: thousandths as u32,
            });
        }
        if !(scale.is_finite() && scale.fract() == 0.0 && (1.0..=10_000.0).contains(&scale)) {
            return Err(invalid(format!(
                "scale {scale} must be a whole number in 1 ..= 10000 (only tpch takes fractional scale factors)"
            )));
        }
        Builtin::new(name, scale as u32)
    }

    /// The scale as a number: `tpch`'s scale factor (0.1 for SF 0.1), else the scale.
    pub fn scale_factor(&self) -> f64 {
        if self.name == "tpch" {
            f64::from(self.scale) / 1000.0
        } else {
            f64::from(self.scale)
        }
    }

    /// An error listing the valid names unless `name` is one.
    fn named(name: &str) -> Result<()> {
        if !NAMES.contains(&name) {
            return Err(WorkloadError::Invalid {
                name: name.to_string(),
                reason: format!(
                    "no such built-in workload; choose one of {}, or give a workload file",
                    NAMES.join(", ")
                ),
            });
        }
        Ok(())
    }

    /// The workload to run, with its variables fixed by the scale.
    pub fn spec(&self) -> Result<WorkloadSpec> {
        let ycsb_text;
        let text = match self.name.as_str() {
            "tpcb" => TPCB,
            "select-only" => SELECT_ONLY,
            "olap" => olap::SPEC,
            "tpch" => {
                ycsb_text = tpch::text(self.scale);
                ycsb_text.as_str()
            }
            "tpcc" => {
                ycsb_text = tpcc::text();
                ycsb_text.as_str()
            }
            other => {
                ycsb_text = ycsb::text(other);
                ycsb_text.as_str()
            }
        };
        let mut spec: WorkloadSpec = toml::from_str(text).map_err(|e| WorkloadError::Spec {
            file: format!("built-in {}", self.name),
            field: "-".into(),
            reason: e.to_string(),
        })?;
        let s = self.scale_factor();
        if let Some(v) = spec.variables.get_mut("scale") {
            *v = s;
        }
        // <name>_per_scale × scale is available as <name>.
        let derived: Vec<(String, f64)> = spec
            .variables
            .iter()
            .filter_map(|(k, v)| {
                k.strip_suffix("_per_scale")
                    .map(|base| (base.to_string(), v * s))
            })
            .collect();
        spec.variables.extend(derived);
        spec.validate(&format!("built-in {}", self.name))?;
        Ok(spec)
    }

    /// Create the tables (dropping old ones) and fill them.
    pub async fn load(&self, url: &TargetUrl) -> Result<LoadReport> {
        let started = Instant::now();
        let rows = match self.name.as_str() {
            "tpcb" | "select-only" => Tpcb::new(self.scale)?.load(url).await?,
            "olap" => olap::load(url, self.scale).await?,
            "tpcc" => tpcc::load(url, self.scale).await?,
            "tpch" => tpch::load(url, self.scale).await?,
            _ => ycsb::load(url, self.scale).await?,
        };
        Ok(LoadReport {
            rows,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// (table, expected rows, actual rows) for the tables whose size the scale fixes.
    pub async fn row_counts(&self, url: &TargetUrl) -> Result<Vec<(String, i64, i64)>> {
        let expected: Vec<(&str, i64)> = match self.name.as_str() {
            "tpcb" | "select-only" => Tpcb::new(self.scale)?.expected_counts(),
            "olap" => olap::expected_counts(self.scale),
            "tpcc" => tpcc::expected_counts(self.scale),
            "tpch" => tpch::expected_counts(self.scale),
            _ => vec![("ycsb_usertable", ycsb::records(self.scale))],
        };
        let mut out = Vec::new();
        for (table, want) in expected {
            let sql = format!("SELECT count(*) FROM {table}");
            let got: i64 = match url.family() {
                knobs::Engine::Postgres => connect_postgres(url)
                    .await?
                    .query_one(&sql, &[])
                    .await?
                    .get(0),
                _ => {
                    use mysql_async::prelude::Queryable;
                    connect_mysql(url)
                        .await?
                        .query_first::<i64, _>(sql)
                        .await?
                        .unwrap_or(0)
                }
            };
            out.push((table.to_string(), want, got));
        }
        Ok(out)
    }
}

const TPCB: &str = r#"
version = 1
name = "tpcb"
description = "TPC-B-like (pgbench's default transaction): update an account, teller and branch balance, read the account, append history"
clients = 4
[variables]
scale = 1
accounts_per_scale = 100000
tellers_per_scale = 10
[params.aid]
kind = "uniform"
min = 1
max = "accounts"
[params.tid]
kind = "uniform"
min = 1
max = "tellers"
[params.bid]
kind = "uniform"
min = 1
max = "scale"
[params.delta]
kind = "uniform"
min = -5000
max = 5000
[[transactions]]
name = "tpcb"
weight = 1
statements = [
  "UPDATE tpcb_accounts SET abalance = abalance + :delta WHERE aid = :aid",
  "SELECT abalance FROM tpcb_accounts WHERE aid = :aid",
  "UPDATE tpcb_tellers SET tbalance = tbalance + :delta WHERE tid = :tid",
  "UPDATE tpcb_branches SET bbalance = bbalance + :delta WHERE bid = :bid",
  "INSERT INTO tpcb_history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP)",
]
"#;

const SELECT_ONLY: &str = r#"
version = 1
name = "select-only"
description = "pgbench -S-like: one primary-key read of an account"
clients = 4
[variables]
scale = 1
accounts_per_scale = 100000
[params.aid]
kind = "uniform"
min = 1
max = "accounts"
[[transactions]]
name = "select"
weight = 1
statements = ["SELECT abalance FROM tpcb_accounts WHERE aid = :aid"]
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_spec_parses_and_scales() {
        for name in NAMES {
            let b = Builtin::new(name, 3).unwrap();
            let spec = b.spec().unwrap();
            assert!(!spec.transactions.is_empty(), "{name}");
        }
        let spec = Builtin::new("tpcb", 3).unwrap().spec().unwrap();
        assert_eq!(spec.variables["accounts"], 300_000.0);
        assert_eq!(spec.variables["scale"], 3.0);
        let err = Builtin::new("tpce", 1).unwrap_err().to_string();
        assert!(
            err.contains("tpce") && err.contains("ycsb-a") && err.contains("tpch"),
            "{err}"
        );
    }

    #[test]
    fn tpch_takes_fractional_scale_factors_and_only_tpch_does() {
        let b = Builtin::with_scale("tpch", 0.1).unwrap();
        assert_eq!((b.scale, b.scale_factor()), (100, 0.1));
        assert_eq!(Builtin::with_scale("tpch", 0.3).unwrap().scale, 300);
        assert_eq!(Builtin::with_scale("tpch", 0.001).unwrap().scale, 1);
        let b = Builtin::new("tpch", 1).unwrap();
        assert_eq!((b.scale, b.scale_factor()), (1000, 1.0));
        assert_eq!(Builtin::new("tpch", 100).unwrap().scale, 100_000);
        assert_eq!(
            Builtin::with_scale("tpch", 0.1)
                .unwrap()
                .spec()
                .unwrap()
                .variables["scale"],
            0.1
        );
        for bad in [0.0, 0.0004, 0.0015, 100.5, 101.0, -1.0, f64::NAN] {
            let err = Builtin::with_scale("tpch", bad).unwrap_err().to_string();
            assert!(
                err.contains(&bad.to_string()) && err.contains("tpch"),
                "{err}"
            );
        }
        assert!(Builtin::new("tpch", 0).is_err() && Builtin::new("tpch", 101).is_err());
        let b = Builtin::with_scale("tpcc", 3.0).unwrap();
        assert_eq!((b.scale, b.scale_factor()), (3, 3.0));
        let err = Builtin::with_scale("olap", 0.5).unwrap_err().to_string();
        assert!(err.contains("0.5") && err.contains("whole number"), "{err}");
        assert!(Builtin::with_scale("olap", 0.0).is_err());
        assert!(Builtin::with_scale("nope", 1.0).is_err());
    }
}
