//! Heuristic starting configurations: PGTune's published rules for PostgreSQL and the
//! well-known InnoDB sizing rules (MySQL's `innodb_dedicated_server` formulas) for MySQL and
//! MariaDB. A starting point and a baseline to beat, never the answer: every rule here is
//! measured against the tuner's search.

use serde::{Deserialize, Serialize};
use std::str::FromStr;

use crate::{catalog, Config, Engine, KnobError, Result, Value, Version};

const KB: u64 = 1024;
const MB: u64 = 1024 * KB;
const GB: u64 = 1024 * MB;

/// What the database is for (PGTune's "DB type").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    Web,
    Oltp,
    Dw,
    Desktop,
    Mixed,
}

/// The storage under the data directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Storage {
    Ssd,
    Hdd,
    San,
    Nvme,
}

impl FromStr for Profile {
    type Err = KnobError;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "web" => Ok(Profile::Web),
            "oltp" => Ok(Profile::Oltp),
            "dw" | "olap" => Ok(Profile::Dw),
            "desktop" => Ok(Profile::Desktop),
            "mixed" => Ok(Profile::Mixed),
            other => Err(KnobError::BadValue {
                knob: "--profile".into(),
                value: other.into(),
                reason: "use web, oltp, dw, desktop or mixed".into(),
            }),
        }
    }
}

impl FromStr for Storage {
    type Err = KnobError;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "ssd" => Ok(Storage::Ssd),
            "hdd" => Ok(Storage::Hdd),
            "san" => Ok(Storage::San),
            "nvme" => Ok(Storage::Nvme),
            other => Err(KnobError::BadValue {
                knob: "--storage".into(),
                value: other.into(),
                reason: "use ssd, hdd, san or nvme".into(),
            }),
        }
    }
}

/// The inputs of the rules.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HeuristicInput {
    pub engine: Engine,
    pub version: Version,
    pub memory_bytes: u64,
    pub cpus: u32,
    /// Default by profile when absent.
    pub connections: Option<u32>,
    pub storage: Storage,
    pub profile: Profile,
}

/// A heuristic configuration with the reason for each value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heuristic {
    pub config: Config,
    pub reasons: Vec<(String, String)>,
}

/// PGTune's default max_connections by profile.
pub fn default_connections(engine: Engine, profile: Profile) -> u32 {
    match (engine, profile) {
        (Engine::Postgres, Profile::Web) => 200,
        (Engine::Postgres, Profile::Oltp) => 300,
        (Engine::Postgres, Profile::Dw) => 40,
        (Engine::Postgres, Profile::Desktop) => 20,
        (Engine::Postgres, Profile::Mixed) => 100,
        (_, Profile::Desktop) => 50,
        (_, Profile::Dw) => 100,
        _ => 300,
    }
}

/// Compute the starting configuration.
pub fn recommend(input: &HeuristicInput) -> Result<Heuristic> {
    if input.memory_bytes < 256 * MB || input.cpus == 0 {
        return Err(KnobError::BadValue {
            knob: "--memory/--cpus".into(),
            value: format!("{} bytes, {} CPUs", input.memory_bytes, input.cpus),
            reason: "need at least 256MB of RAM and one CPU".into(),
        });
    }
    let catalog = catalog::for_version(input.engine, input.version)?;
    let mut out = Builder {
        catalog: &catalog,
        config: Config::new(),
        reasons: Vec::new(),
    };
    match input.engine {
        Engine::Postgres => postgres(input, &mut out)?,
        Engine::Mysql | Engine::Mariadb => innodb(input, &mut out)?,
    }
    Ok(Heuristic {
        config: out.config,
        reasons: out.reasons,
    })
}

struct Builder<'a> {
    catalog: &'a [crate::Knob],
    config: Config,
    reasons: Vec<(String, String)>,
}

impl Builder<'_> {
    /// Set a knob if this version has it, clamped to its server bounds.
    fn set(&mut self, name: &str, value: Value, reason: &str) -> Result<()> {
        let Ok(knob) = catalog::find(self.catalog, name) else {
            return Ok(());
        };
        let value = match (&knob.kind, value) {
            (crate::KnobKind::Integer { min, max, .. }, Value::Int(v)) => {
                Value::Int(v.clamp(*min, *max))
            }
            (_, v) => v,
        };
        knob.check(&value)?;
        self.config.set(name, value);
        self.reasons.push((name.to_string(), reason.to_string()));
        Ok(())
    }

    fn bytes(&mut self, name: &str, bytes: u64, reason: &str) -> Result<()> {
        self.set(name, Value::Int(bytes as i64), reason)
    }
}

fn postgres(i: &HeuristicInput, out: &mut Builder) -> Result<()> {
    let ram = i.memory_bytes;
    let p = i.profile;
    let connections = i
        .connections
        .unwrap_or(default_connections(Engine::Postgres, p));
    // PGTune rounds memory to kB; so do we, so that sizes render exactly.
    let kb = |b: u64| b / KB * KB;
    let shared = kb(if p == Profile::Desktop {
        ram / 16
    } else {
        ram / 4
    });
    out.set(
        "max_connections",
        Value::Int(i64::from(connections)),
        "PGTune default for the profile, or as given",
    )?;
    out.bytes(
        "shared_buffers",
        shared,
        if p == Profile::Desktop {
            "RAM / 16 (desktop)"
        } else {
            "RAM / 4"
        },
    )?;
    out.bytes(
        "effective_cache_size",
        kb(if p == Profile::Desktop {
            ram / 4
        } else {
            ram / 4 * 3
        }),
        if p == Profile::Desktop {
            "RAM / 4 (desktop)"
        } else {
            "3/4 of RAM"
        },
    )?;
    let maint = if p == Profile::Dw { ram / 8 } else { ram / 16 };
    out.bytes(
        "maintenance_work_mem",
        kb(maint.min(8 * GB)),
        if p == Profile::Dw {
            "RAM / 8 (dw), at most 8GB"
        } else {
            "RAM / 16, at most 8GB"
        },
    )?;
    out.set(
        "checkpoint_completion_target",
        Value::Real(0.9),
        "spread checkpoints over 90% of the interval",
    )?;
    let wal = (shared * 3 / 100).clamp(32 * KB, 16 * MB);
    out.bytes(
        "wal_buffers",
        kb(wal),
        "3% of shared_buffers, between 32kB and 16MB",
    )?;
    let (min_wal, max_wal) = match p {
        Profile::Web | Profile::Mixed => (GB, 4 * GB),
        Profile::Oltp => (2 * GB, 8 * GB),
        Profile::Dw => (4 * GB, 16 * GB),
        Profile::Desktop => (100 * MB, 2 * GB),
    };
    out.bytes("min_wal_size", min_wal, "by profile")?;
    out.bytes("max_wal_size", max_wal, "by profile")?;
    let (rpc, eio) = match i.storage {
        Storage::Hdd => (4.0, 2),
        Storage::Ssd => (1.1, 200),
        Storage::San => (1.1, 300),
        Storage::Nvme => (1.1, 1000),
    };
    out.set(
        "random_page_cost",
        Value::Real(rpc),
        "random reads cost about as much as sequential ones except on HDDs",
    )?;
    out.set(
        "effective_io_concurrency",
        Value::Int(eio),
        "concurrent I/O the storage sustains",
    )?;
    out.set(
        "default_statistics_target",
        Value::Int(if p == Profile::Dw { 500 } else { 100 }),
        "finer statistics for analytic queries",
    )?;
    let workers = if i.cpus >= 4 { i.cpus } else { 8 };
    if i.cpus >= 4 {
        let half = i.cpus.div_ceil(2);
        let per_gather = if p == Profile::Dw { half } else { half.min(4) };
        out.set(
            "max_worker_processes",
            Value::Int(i64::from(i.cpus)),
            "one worker per CPU",
        )?;
        out.set(
            "max_parallel_workers_per_gather",
            Value::Int(i64::from(per_gather)),
            "half the CPUs, at most 4 unless dw",
        )?;
        out.set(
            "max_parallel_workers",
            Value::Int(i64::from(i.cpus)),
            "one per CPU",
        )?;
        out.set(
            "max_parallel_maintenance_workers",
            Value::Int(i64::from(half.min(4))),
            "half the CPUs, at most 4",
        )?;
    }
    let mut work = (ram - shared) / ((u64::from(connections) + u64::from(workers)) * 3);
    work = match p {
        Profile::Dw | Profile::Mixed => work / 2,
        Profile::Desktop => work / 6,
        _ => work,
    };
    out.bytes("work_mem", kb(work.max(4 * MB)), "(RAM - shared_buffers) / ((connections + workers) x 3), /2 dw and mixed, /6 desktop, at least 4MB")?;
    Ok(())
}

fn innodb(i: &HeuristicInput, out: &mut Builder) -> Result<()> {
    let ram = i.memory_bytes;
    let connections = i
        .connections
        .unwrap_or(default_connections(i.engine, i.profile));
    // MySQL's innodb_dedicated_server rules.
    let pool = if ram < GB {
        128 * MB
    } else if ram <= 4 * GB {
        ram / 2
    } else {
        ram / 4 * 3
    };
    out.bytes(
        "innodb_buffer_pool_size",
        pool / MB * MB,
        "dedicated server: 128MB under 1GB of RAM, half up to 4GB, 3/4 above",
    )?;
    let log = match ram {
        r if r < GB => 48 * MB,
        r if r <= 4 * GB => 128 * MB,
        r if r <= 8 * GB => 512 * MB,
        r if r <= 16 * GB => GB,
        _ => 2 * GB,
    };
    out.bytes(
        "innodb_log_file_size",
        log,
        "dedicated server: by RAM, 48MB to 2GB",
    )?;
    let redo = (u64::from(i.cpus) / 2).clamp(1, 16) * GB;
    out.bytes(
        "innodb_redo_log_capacity",
        redo,
        "dedicated server: CPUs / 2 GB, at most 16GB",
    )?;
    out.bytes(
        "innodb_log_buffer_size",
        if ram >= 8 * GB { 64 * MB } else { 16 * MB },
        "64MB with 8GB of RAM or more",
    )?;
    let (io, neighbors) = match i.storage {
        Storage::Hdd => (200, 1),
        Storage::Ssd | Storage::San => (2000, 0),
        Storage::Nvme => (10_000, 0),
    };
    out.set(
        "innodb_io_capacity",
        Value::Int(io),
        "IOPS the storage sustains",
    )?;
    out.set(
        "innodb_io_capacity_max",
        Value::Int(io * 2),
        "twice innodb_io_capacity",
    )?;
    out.set(
        "innodb_flush_neighbors",
        Value::Int(neighbors),
        "neighbour flushing only helps rotating disks",
    )?;
    out.set(
        "max_connections",
        Value::Int(i64::from(connections)),
        "by profile, or as given",
    )?;
    out.set(
        "thread_cache_size",
        Value::Int(i64::from((8 + connections / 100).min(100))),
        "MySQL's autosizing: 8 + max_connections / 100",
    )?;
    out.set(
        "table_open_cache",
        Value::Int(4000),
        "enough open tables for most schemas",
    )?;
    if i.profile == Profile::Dw {
        out.bytes(
            "tmp_table_size",
            256 * MB,
            "analytic queries build large temporary tables",
        )?;
        out.bytes(
            "max_heap_table_size",
            256 * MB,
            "caps in-memory temporary tables with tmp_table_size",
        )?;
        out.bytes(
            "sort_buffer_size",
            8 * MB,
            "larger sorts for analytic queries",
        )?;
        out.bytes(
            "join_buffer_size",
            8 * MB,
            "larger join buffers for analytic queries",
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(memory_gb: u64, cpus: u32, profile: Profile, storage: Storage) -> Config {
        recommend(&HeuristicInput {
            engine: Engine::Postgres,
            version: Version::new(15, 0, 0),
            memory_bytes: memory_gb * GB,
            cpus,
            connections: None,
            storage,
            profile,
        })
        .unwrap()
        .config
    }

    fn int(c: &Config, name: &str) -> i64 {
        match c.get(name) {
            Some(Value::Int(v)) => *v,
            other => panic!("{name}: {other:?}"),
        }
    }

    /// Cases worked by hand from the PGTune formulas in FIELD-NOTES.md.
    #[test]
    fn pgtune_cases() {
        // 8 GB, 4 CPUs, oltp, SSD: connections 300, workers 4.
        let c = pg(8, 4, Profile::Oltp, Storage::Ssd);
        assert_eq!(int(&c, "shared_buffers"), 2 * GB as i64);
        assert_eq!(int(&c, "effective_cache_size"), 6 * GB as i64);
        assert_eq!(int(&c, "maintenance_work_mem"), 512 * MB as i64);
        assert_eq!(int(&c, "wal_buffers"), 16 * MB as i64); // 3% of 2GB = 61MB, capped
        assert_eq!(int(&c, "min_wal_size"), 2 * GB as i64);
        assert_eq!(int(&c, "max_wal_size"), 8 * GB as i64);
        assert_eq!(c.get("random_page_cost"), Some(&Value::Real(1.1)));
        assert_eq!(int(&c, "effective_io_concurrency"), 200);
        assert_eq!(int(&c, "max_connections"), 300);
        assert_eq!(int(&c, "max_parallel_workers_per_gather"), 2);
        assert_eq!(int(&c, "max_parallel_maintenance_workers"), 2);
        // (8GB - 2GB) / ((300 + 4) * 3) = 6291456 kB / 912 = 6898 kB (PGTune: 6898kB)
        assert_eq!(int(&c, "work_mem"), 6898 * KB as i64);

        // 64 GB, 16 CPUs, dw, HDD.
        let c = pg(64, 16, Profile::Dw, Storage::Hdd);
        assert_eq!(int(&c, "shared_buffers"), 16 * GB as i64);
        assert_eq!(int(&c, "maintenance_work_mem"), 8 * GB as i64); // RAM/8 = 8GB, at the cap
        assert_eq!(int(&c, "max_wal_size"), 16 * GB as i64);
        assert_eq!(c.get("random_page_cost"), Some(&Value::Real(4.0)));
        assert_eq!(int(&c, "effective_io_concurrency"), 2);
        assert_eq!(int(&c, "default_statistics_target"), 500);
        assert_eq!(int(&c, "max_parallel_workers_per_gather"), 8); // dw: not capped at 4
        assert_eq!(int(&c, "max_parallel_maintenance_workers"), 4);
        // (64GB - 16GB) / ((40 + 16) * 3) / 2 = 50331648 kB / 168 / 2 = 149796 kB
        assert_eq!(int(&c, "work_mem"), 149_796 * KB as i64);

        // 2 GB, 2 CPUs, desktop, NVMe: small machine keeps the parallel defaults.
        let c = pg(2, 2, Profile::Desktop, Storage::Nvme);
        assert_eq!(int(&c, "shared_buffers"), 128 * MB as i64);
        assert_eq!(int(&c, "effective_cache_size"), 512 * MB as i64);
        assert_eq!(int(&c, "wal_buffers"), 3932 * KB as i64); // 3% of 128MB
        assert_eq!(int(&c, "effective_io_concurrency"), 1000);
        assert!(c.get("max_worker_processes").is_none());
        assert_eq!(int(&c, "work_mem"), 4 * MB as i64); // formula gives < 4MB
    }

    #[test]
    fn innodb_cases() {
        let input = |gb: u64, cpus, storage| HeuristicInput {
            engine: Engine::Mysql,
            version: Version::new(8, 0, 36),
            memory_bytes: gb * GB,
            cpus,
            connections: Some(500),
            storage,
            profile: Profile::Oltp,
        };
        let c = recommend(&input(16, 8, Storage::Ssd)).unwrap().config;
        assert_eq!(int(&c, "innodb_buffer_pool_size"), 12 * GB as i64);
        assert_eq!(int(&c, "innodb_redo_log_capacity"), 4 * GB as i64);
        assert!(
            c.get("innodb_log_file_size").is_none(),
            "MySQL 8.0.30+ sizes the redo log with innodb_redo_log_capacity"
        );
        assert_eq!(int(&c, "innodb_io_capacity"), 2000);
        assert_eq!(int(&c, "innodb_flush_neighbors"), 0);
        assert_eq!(int(&c, "thread_cache_size"), 13);
        let c = recommend(&input(2, 2, Storage::Hdd)).unwrap().config;
        assert_eq!(int(&c, "innodb_buffer_pool_size"), GB as i64);
        assert_eq!(int(&c, "innodb_flush_neighbors"), 1);
        let maria = HeuristicInput {
            engine: Engine::Mariadb,
            version: Version::new(10, 11, 0),
            ..input(32, 8, Storage::Nvme)
        };
        let c = recommend(&maria).unwrap().config;
        assert_eq!(int(&c, "innodb_log_file_size"), 2 * GB as i64);
        assert!(c.get("innodb_redo_log_capacity").is_none());
    }
}
