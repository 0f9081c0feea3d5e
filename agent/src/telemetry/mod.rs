//! Telemetry: what a target database (and, when it is local, its host) is doing, as
//! [`Snapshot`]s, and what changed between two of them as a [`Delta`] with derived metrics.
//!
//! One module per source, each with the same shape: a collector built from a URL and a
//! [`TelemetryConfig`], with an async `collect` that returns a snapshot (`postgres`, `mysql`)
//! or fills one (`host`). A view the role may not read, or an extension that is missing,
//! becomes a [`Notice`] in the snapshot (logged once per collector) and the rest is still
//! collected. Not for: applying anything to the target (see `staging`).
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use agent::telemetry::{Collector, Delta, TelemetryConfig};
//! let mut collector = Collector::new("postgres://monitor@db:5432/app".parse()?, TelemetryConfig::default())?;
//! let a = collector.collect().await?;
//! tokio::time::sleep(std::time::Duration::from_secs(10)).await;
//! let b = collector.collect().await?;
//! println!("{:?} TPS", Delta::between(&a, &b).derived.tps);
//! # Ok(()) }
//! ```

mod config;
pub mod delta;
mod error;
pub mod host;
pub mod mysql;
mod observe;
pub mod postgres;
pub mod snapshot;
pub mod watch;

use std::collections::BTreeSet;

use knobs::Engine;
use workloads::TargetUrl;

pub use config::{HostMode, TelemetryConfig};
pub use delta::{Delta, Derived};
pub use error::{Result, TelemetryError};
pub use host::HostCollector;
pub use observe::{observe, Observed};
pub use snapshot::{Notice, Snapshot, StatementStat};

/// A target's collector: the database source for its engine plus the host when local.
#[derive(Debug)]
pub struct Collector {
    source: Source,
    host: Option<HostCollector>,
    /// Notices already logged: each is named once, then the collector degrades quietly.
    logged: BTreeSet<(String, String)>,
    log_notices: bool,
}

#[derive(Debug)]
enum Source {
    Postgres(Box<postgres::PostgresCollector>),
    Mysql(Box<mysql::MysqlCollector>),
}

impl Collector {
    /// Build a collector; nothing connects until the first [`Collector::collect`].
    pub fn new(url: TargetUrl, config: TelemetryConfig) -> Result<Collector> {
        config.validate()?;
        let host = match config.host {
            HostMode::Always => Some(HostCollector::default()),
            HostMode::Auto if host::is_local(url.host()) => Some(HostCollector::default()),
            HostMode::Auto | HostMode::Never => None,
        };
        let source = match url.family() {
            Engine::Postgres => {
                Source::Postgres(Box::new(postgres::PostgresCollector::new(url, config)))
            }
            Engine::Mysql | Engine::Mariadb => {
                Source::Mysql(Box::new(mysql::MysqlCollector::new(url, config)))
            }
        };
        Ok(Collector {
            source,
            host,
            logged: BTreeSet::new(),
            log_notices: true,
        })
    }

    /// Whether notices are logged (once each). Off when the caller shows them itself.
    pub fn log_notices(mut self, on: bool) -> Self {
        self.log_notices = on;
        self
    }

    /// Take one snapshot.
    pub async fn collect(&mut self) -> Result<Snapshot> {
        let mut snap = match &mut self.source {
            Source::Postgres(c) => c.collect().await,
            Source::Mysql(c) => c.collect().await,
        }
        .inspect_err(|e| tracing::warn!(error = %e, "telemetry scrape failed"))?;
        if let Some(host) = &self.host {
            host.collect_into(&mut snap);
        }
        for n in &snap.notices {
            if self.log_notices && self.logged.insert((n.source.clone(), n.problem.clone())) {
                tracing::warn!(source = %n.source, fix = %n.fix, "telemetry cannot read: {}", n.problem);
            }
        }
        Ok(snap)
    }
}
