//! A sandbox with a built-in workload loaded, measured through `tune`'s own path: what the
//! experiments that compare configurations side by side start from.

use agent::staging::Staging;
use agent::tune::measure::{Bench, Window, DATABASE};
use agent::tune::Objective;
use anyhow::Result;
use knobs::{catalog, Engine};
use mysql_async::prelude::Queryable;
use workloads::builtin::Builtin;
use workloads::replay::Replay;
use workloads::Sandbox;

/// How the loaded sandbox is measured.
#[derive(Debug, Clone, Copy)]
pub struct Measuring {
    pub clients: usize,
    pub window: Window,
    /// Restart for every configuration (as a session whose space has restart knobs does).
    pub restart_each: bool,
    pub seed: u64,
}

/// Start a sandbox of `engine`, create the workload's database, load `workload` at `scale`
/// and return it ready to measure configurations (throughput objective).
pub async fn loaded_bench(
    engine: Engine,
    workload: &str,
    scale: f64,
    measuring: Measuring,
) -> Result<Bench> {
    let sandbox = tokio::task::spawn_blocking(move || Sandbox::start(engine)).await??;
    let staging = Staging::new(sandbox, catalog::for_engine(engine)?);
    let admin = staging.admin_url()?;
    match engine {
        Engine::Postgres => {
            workloads::target::connect_postgres(&admin)
                .await?
                .batch_execute(&format!("CREATE DATABASE {DATABASE}"))
                .await?;
        }
        Engine::Mysql | Engine::Mariadb => {
            let mut conn = workloads::target::connect_mysql(&admin).await?;
            conn.query_drop(format!("CREATE DATABASE IF NOT EXISTS {DATABASE}"))
                .await?;
            conn.disconnect().await?;
        }
    }
    let builtin = Builtin::with_scale(workload, scale)?;
    let db = staging.url(DATABASE)?;
    builtin.load(&db).await?;
    let replay = Replay::new(&builtin.spec()?, &db).await?;
    Ok(Bench::new(
        staging,
        replay,
        measuring.clients,
        measuring.window,
        measuring.restart_each,
        Objective::Throughput,
        measuring.seed,
    ))
}
