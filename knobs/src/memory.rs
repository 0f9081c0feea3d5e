//! The memory guardrail: worst-case memory of a configuration, checked against a RAM budget
//! before the configuration is ever tried.

use serde::{Deserialize, Serialize};

use crate::{catalog, Config, Engine, Knob, KnobError, Result, Value};

/// The machine a configuration is meant for.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Hardware {
    pub ram_bytes: u64,
    pub cpus: u32,
}

/// A worst-case memory estimate with its parts, for messages and reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryEstimate {
    pub total_bytes: u64,
    pub parts: Vec<(String, u64)>,
}

const MB: u64 = 1024 * 1024;

/// What a part or the total is when its arithmetic overflows 64 bits: more than any budget.
const OVERFLOW: u64 = u64::MAX;

impl MemoryEstimate {
    /// Worst case for a configuration; knobs absent from it take their catalog default, and
    /// knobs absent from the catalog take the server's default.
    pub fn of(engine: Engine, config: &Config, catalog: &[Knob]) -> MemoryEstimate {
        let get = |name: &str, fallback: u64| -> u64 {
            let value = catalog::find(catalog, name)
                .ok()
                .map(|k| config.effective(k).clone())
                .or_else(|| config.get(name).cloned());
            match value {
                Some(Value::Int(v)) if v >= 0 => v as u64,
                Some(Value::Enum(v)) => v.parse().unwrap_or(fallback),
                _ => fallback,
            }
        };
        let parts: Vec<(String, u64)> = match engine {
            Engine::Postgres => {
                let shared = get("shared_buffers", 128 * MB);
                let wal = match get("wal_buffers", u64::MAX) {
                    u64::MAX => (shared / 32).clamp(64 * 1024, 16 * MB),
                    v => v,
                };
                let conns = get("max_connections", 100);
                let work = get("work_mem", 4 * MB);
                let workers = get("autovacuum_max_workers", 3);
                let maint = get("maintenance_work_mem", 64 * MB);
                vec![
                    ("shared_buffers".into(), shared),
                    ("wal_buffers".into(), wal),
                    (
                        format!("max_connections ({conns}) x work_mem x 1.5"),
                        conns
                            .checked_mul(work)
                            .and_then(|b| b.checked_mul(3))
                            .map_or(OVERFLOW, |b| b / 2),
                    ),
                    (
                        format!("autovacuum_max_workers ({workers}) x maintenance_work_mem"),
                        workers.checked_mul(maint).unwrap_or(OVERFLOW),
                    ),
                ]
            }
            Engine::Mysql | Engine::Mariadb => {
                let pool = get("innodb_buffer_pool_size", 128 * MB);
                let log = get("innodb_log_buffer_size", 16 * MB);
                let conns = get("max_connections", 151);
                // Sizes come from plans and servers: saturate, never wrap or panic.
                let per_session = [
                    get("sort_buffer_size", 2 * MB),
                    get("join_buffer_size", 256 * 1024),
                    get("read_buffer_size", 128 * 1024),
                    get("read_rnd_buffer_size", 256 * 1024),
                    292 * 1024,
                ]
                .into_iter()
                .fold(0u64, u64::saturating_add);
                vec![
                    ("innodb_buffer_pool_size".into(), pool),
                    ("innodb_log_buffer_size".into(), log),
                    (
                        format!("max_connections ({conns}) x per-session buffers"),
                        conns.checked_mul(per_session).unwrap_or(OVERFLOW),
                    ),
                ]
            }
        };
        let total_bytes = parts
            .iter()
            .map(|(_, b)| *b)
            .fold(0u64, u64::saturating_add);
        MemoryEstimate { total_bytes, parts }
    }

    /// Reject the estimate when it exceeds `budget_bytes`, with the numbers in the message.
    pub fn check(&self, budget_bytes: u64) -> Result<()> {
        if self.total_bytes <= budget_bytes && self.total_bytes != OVERFLOW {
            return Ok(());
        }
        let detail = self
            .parts
            .iter()
            .map(|(name, b)| format!("{name} = {}", human_bytes(*b)))
            .collect::<Vec<_>>()
            .join(" + ");
        Err(KnobError::MemoryBudget {
            estimate: human_bytes(self.total_bytes),
            budget: human_bytes(budget_bytes),
            detail,
        })
    }
}

/// "1.5 GiB"-style rendering for messages.
pub fn human_bytes(bytes: u64) -> String {
    if bytes == OVERFLOW {
        return "more than 16 EiB (overflows)".into();
    }
    let b = bytes as f64;
    if b >= (1u64 << 30) as f64 {
        format!("{:.1} GiB", b / (1u64 << 30) as f64)
    } else {
        format!("{:.0} MiB", b / MB as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guardrail_rejects_configs_beyond_the_budget_with_numbers() {
        let cat = catalog::for_engine(Engine::Postgres).unwrap();
        let ok = Config::parse_pairs(&cat, [("shared_buffers", "2GB")]).unwrap();
        let estimate = MemoryEstimate::of(Engine::Postgres, &ok, &cat);
        // 2 GiB + 16 MiB wal + 100 x 4 MiB x 1.5 + 3 x 64 MiB
        assert_eq!(
            estimate.total_bytes,
            2048 * MB + 16 * MB + 600 * MB + 192 * MB
        );
        assert!(estimate.check(4 << 30).is_ok());
        let too_big =
            Config::parse_pairs(&cat, [("shared_buffers", "3GB"), ("work_mem", "64MB")]).unwrap();
        let err = MemoryEstimate::of(Engine::Postgres, &too_big, &cat)
            .check(4 << 30)
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("exceeds the budget 4.0 GiB"), "{text}");
        assert!(text.contains("shared_buffers = 3.0 GiB"), "{text}");
    }

    #[test]
    fn sizes_that_overflow_are_rejected_not_wrapped() {
        for engine in [Engine::Postgres, Engine::Mariadb] {
            let cat = catalog::for_engine(engine).unwrap();
            let mut config = Config::new();
            for name in [
                "max_connections",
                "work_mem",
                "sort_buffer_size",
                "join_buffer_size",
                "read_buffer_size",
                "autovacuum_max_workers",
                "maintenance_work_mem",
            ] {
                config.set(name, Value::Int(i64::MAX));
            }
            let estimate = MemoryEstimate::of(engine, &config, &cat);
            assert_eq!(estimate.total_bytes, u64::MAX, "{engine}");
            let err = estimate.check(u64::MAX).unwrap_err().to_string();
            assert!(err.contains("overflows"), "{engine}: {err}");
        }
    }

    #[test]
    fn innodb_estimate_counts_the_pool_and_sessions() {
        let cat = catalog::for_engine(Engine::Mariadb).unwrap();
        let config = Config::parse_pairs(&cat, [("innodb_buffer_pool_size", "1GB")]).unwrap();
        let estimate = MemoryEstimate::of(Engine::Mariadb, &config, &cat);
        assert!(estimate.total_bytes > 1 << 30);
        assert!(estimate.check(1 << 30).is_err());
    }
}
