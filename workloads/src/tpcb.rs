//! A TPC-B-like benchmark (as pgbench runs it): branches, tellers, accounts and history, and
//! one write transaction that updates a balance in each and appends to history. Own schema and
//! loader for PostgreSQL (COPY) and MySQL/MariaDB (multi-row INSERT).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::SinkExt;
use knobs::Engine;
use mysql_async::prelude::Queryable;
use rand::rngs::StdRng;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::driver::Session;
use crate::target::{classify_mysql, classify_pg, connect_mysql, connect_postgres};
use crate::{Result, TargetUrl, WorkloadError};

const ACCOUNTS_PER_BRANCH: i64 = 100_000;
const TELLERS_PER_BRANCH: i64 = 10;

/// The benchmark at a scale factor (branches; 100,000 accounts each).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Tpcb {
    pub scale: u32,
}

/// What a load did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadReport {
    pub rows: u64,
    pub seconds: f64,
}

/// Row counts of the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowCounts {
    pub branches: i64,
    pub tellers: i64,
    pub accounts: i64,
}

impl Tpcb {
    pub fn new(scale: u32) -> Result<Tpcb> {
        if scale == 0 || scale > 100_000 {
            return Err(WorkloadError::Invalid {
                name: "tpcb".into(),
                reason: format!("scale {scale} is outside 1 ..= 100000"),
            });
        }
        Ok(Tpcb { scale })
    }

    pub fn expected_counts(&self) -> RowCounts {
        let s = i64::from(self.scale);
        RowCounts {
            branches: s,
            tellers: s * TELLERS_PER_BRANCH,
            accounts: s * ACCOUNTS_PER_BRANCH,
        }
    }

    /// Create the tables (dropping old ones) and fill them.
    pub async fn load(&self, url: &TargetUrl) -> Result<LoadReport> {
        let started = Instant::now();
        match url.family() {
            Engine::Postgres => self.load_postgres(url).await?,
            Engine::Mysql | Engine::Mariadb => self.load_mysql(url).await?,
        }
        let c = self.expected_counts();
        Ok(LoadReport {
            rows: (c.branches + c.tellers + c.accounts) as u64,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    async fn load_postgres(&self, url: &TargetUrl) -> Result<()> {
        let client = connect_postgres(url).await?;
        client
            .batch_execute(
                "DROP TABLE IF EXISTS tpcb_history, tpcb_accounts, tpcb_tellers, tpcb_branches;
                 CREATE TABLE tpcb_branches (bid int NOT NULL, bbalance int NOT NULL, filler char(88));
                 CREATE TABLE tpcb_tellers (tid int NOT NULL, bid int NOT NULL, tbalance int NOT NULL, filler char(84));
                 CREATE TABLE tpcb_accounts (aid int NOT NULL, bid int NOT NULL, abalance int NOT NULL, filler char(84)) WITH (fillfactor = 90);
                 CREATE TABLE tpcb_history (tid int, bid int, aid int, delta int, mtime timestamp, filler char(22));",
            )
            .await?;
        let c = self.expected_counts();
        copy_rows(
            &client,
            "COPY tpcb_branches (bid, bbalance) FROM STDIN",
            c.branches,
            |b, i| writeln!(b, "{i}\t0"),
        )
        .await?;
        copy_rows(
            &client,
            "COPY tpcb_tellers (tid, bid, tbalance) FROM STDIN",
            c.tellers,
            |b, i| writeln!(b, "{i}\t{}\t0", (i - 1) / TELLERS_PER_BRANCH + 1),
        )
        .await?;
        copy_rows(
            &client,
            "COPY tpcb_accounts (aid, bid, abalance, filler) FROM STDIN",
            c.accounts,
            |b, i| writeln!(b, "{i}\t{}\t0\t", (i - 1) / ACCOUNTS_PER_BRANCH + 1),
        )
        .await?;
        client
            .batch_execute(
                "ALTER TABLE tpcb_branches ADD PRIMARY KEY (bid);
                 ALTER TABLE tpcb_tellers ADD PRIMARY KEY (tid);
                 ALTER TABLE tpcb_accounts ADD PRIMARY KEY (aid);",
            )
            .await?;
        // VACUUM refuses to run in the implicit transaction of a multi-statement batch.
        client
            .batch_execute(
                "VACUUM ANALYZE tpcb_branches, tpcb_tellers, tpcb_accounts, tpcb_history",
            )
            .await?;
        Ok(())
    }

    async fn load_mysql(&self, url: &TargetUrl) -> Result<()> {
        let mut conn = connect_mysql(url).await?;
        conn.query_drop(
            "DROP TABLE IF EXISTS tpcb_history, tpcb_accounts, tpcb_tellers, tpcb_branches;
             CREATE TABLE tpcb_branches (bid int NOT NULL PRIMARY KEY, bbalance int NOT NULL, filler char(88)) ENGINE=InnoDB;
             CREATE TABLE tpcb_tellers (tid int NOT NULL PRIMARY KEY, bid int NOT NULL, tbalance int NOT NULL, filler char(84)) ENGINE=InnoDB;
             CREATE TABLE tpcb_accounts (aid int NOT NULL PRIMARY KEY, bid int NOT NULL, abalance int NOT NULL, filler char(84)) ENGINE=InnoDB;
             CREATE TABLE tpcb_history (tid int, bid int, aid int, delta int, mtime timestamp NULL, filler char(22)) ENGINE=InnoDB;",
        )
        .await?;
        let c = self.expected_counts();
        insert_rows(
            &mut conn,
            "INSERT INTO tpcb_branches (bid, bbalance) VALUES ",
            c.branches,
            |b, i| write!(b, "({i},0)"),
        )
        .await?;
        insert_rows(
            &mut conn,
            "INSERT INTO tpcb_tellers (tid, bid, tbalance) VALUES ",
            c.tellers,
            |b, i| write!(b, "({i},{},0)", (i - 1) / TELLERS_PER_BRANCH + 1),
        )
        .await?;
        insert_rows(
            &mut conn,
            "INSERT INTO tpcb_accounts (aid, bid, abalance, filler) VALUES ",
            c.accounts,
            |b, i| write!(b, "({i},{},0,'')", (i - 1) / ACCOUNTS_PER_BRANCH + 1),
        )
        .await?;
        conn.query_drop("ANALYZE TABLE tpcb_branches, tpcb_tellers, tpcb_accounts")
            .await?;
        Ok(())
    }

    /// Count the rows of the fixed-size tables.
    pub async fn row_counts(&self, url: &TargetUrl) -> Result<RowCounts> {
        const SQL: &str = "SELECT (SELECT count(*) FROM tpcb_branches), (SELECT count(*) FROM tpcb_tellers), (SELECT count(*) FROM tpcb_accounts)";
        match url.family() {
            Engine::Postgres => {
                let row = connect_postgres(url).await?.query_one(SQL, &[]).await?;
                Ok(RowCounts {
                    branches: row.get(0),
                    tellers: row.get(1),
                    accounts: row.get(2),
                })
            }
            Engine::Mysql | Engine::Mariadb => {
                let row: Option<(i64, i64, i64)> =
                    connect_mysql(url).await?.query_first(SQL).await?;
                let (branches, tellers, accounts) = row.unwrap_or_default();
                Ok(RowCounts {
                    branches,
                    tellers,
                    accounts,
                })
            }
        }
    }

    /// Open one client session with its statements prepared.
    pub async fn session(&self, url: &TargetUrl) -> Result<TpcbSession> {
        let scale = i64::from(self.scale);
        match url.family() {
            Engine::Postgres => {
                let client = connect_postgres(url).await?;
                let mut statements = Vec::new();
                for sql in [
                    "UPDATE tpcb_accounts SET abalance = abalance + $1 WHERE aid = $2",
                    "SELECT abalance FROM tpcb_accounts WHERE aid = $1",
                    "UPDATE tpcb_tellers SET tbalance = tbalance + $1 WHERE tid = $2",
                    "UPDATE tpcb_branches SET bbalance = bbalance + $1 WHERE bid = $2",
                    "INSERT INTO tpcb_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)",
                ] {
                    statements.push(client.prepare(sql).await.map_err(|e| classify_pg(url, e))?);
                }
                Ok(TpcbSession {
                    scale,
                    conn: Conn::Postgres { client, statements },
                })
            }
            Engine::Mysql | Engine::Mariadb => {
                let mut conn = connect_mysql(url).await?;
                let mut statements = Vec::new();
                for sql in [
                    "UPDATE tpcb_accounts SET abalance = abalance + ? WHERE aid = ?",
                    "SELECT abalance FROM tpcb_accounts WHERE aid = ?",
                    "UPDATE tpcb_tellers SET tbalance = tbalance + ? WHERE tid = ?",
                    "UPDATE tpcb_branches SET bbalance = bbalance + ? WHERE bid = ?",
                    "INSERT INTO tpcb_history (tid, bid, aid, delta, mtime) VALUES (?, ?, ?, ?, CURRENT_TIMESTAMP)",
                ] {
                    statements.push(conn.prep(sql).await.map_err(|e| classify_mysql(url, e))?);
                }
                Ok(TpcbSession {
                    scale,
                    conn: Conn::Mysql { conn, statements },
                })
            }
        }
    }
}

async fn copy_rows(
    client: &tokio_postgres::Client,
    sql: &str,
    count: i64,
    row: impl Fn(&mut String, i64) -> std::fmt::Result,
) -> Result<()> {
    let sink = client.copy_in::<_, Bytes>(sql).await?;
    futures_util::pin_mut!(sink);
    let mut buffer = String::with_capacity(1 << 20);
    for i in 1..=count {
        let _ = row(&mut buffer, i);
        if buffer.len() > 1 << 20 {
            sink.send(Bytes::from(std::mem::take(&mut buffer))).await?;
        }
    }
    sink.send(Bytes::from(buffer)).await?;
    sink.finish().await?;
    Ok(())
}

async fn insert_rows(
    conn: &mut mysql_async::Conn,
    prefix: &str,
    count: i64,
    row: impl Fn(&mut String, i64) -> std::fmt::Result,
) -> Result<()> {
    const BATCH: i64 = 5_000;
    let mut start = 1;
    while start <= count {
        let end = (start + BATCH - 1).min(count);
        let mut sql = String::with_capacity(prefix.len() + 32 * BATCH as usize);
        sql.push_str(prefix);
        for i in start..=end {
            if i > start {
                sql.push(',');
            }
            let _ = row(&mut sql, i);
        }
        conn.query_drop(sql).await?;
        start = end + 1;
    }
    Ok(())
}

enum Conn {
    Postgres {
        client: tokio_postgres::Client,
        statements: Vec<tokio_postgres::Statement>,
    },
    Mysql {
        conn: mysql_async::Conn,
        statements: Vec<mysql_async::Statement>,
    },
}

/// One client of the benchmark.
pub struct TpcbSession {
    scale: i64,
    conn: Conn,
}

impl std::fmt::Debug for TpcbSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TpcbSession(scale {})", self.scale)
    }
}

impl Session for TpcbSession {
    async fn run_once(&mut self, rng: &mut StdRng) -> Result<()> {
        let aid: i32 = rng.gen_range(1..=(self.scale * ACCOUNTS_PER_BRANCH) as i32);
        let bid: i32 = rng.gen_range(1..=self.scale as i32);
        let tid: i32 = rng.gen_range(1..=(self.scale * TELLERS_PER_BRANCH) as i32);
        let delta: i32 = rng.gen_range(-5000..=5000);
        match &mut self.conn {
            Conn::Postgres { client, statements } => {
                let tx = client.transaction().await?;
                tx.execute(&statements[0], &[&delta, &aid]).await?;
                tx.query_one(&statements[1], &[&aid]).await?;
                tx.execute(&statements[2], &[&delta, &tid]).await?;
                tx.execute(&statements[3], &[&delta, &bid]).await?;
                tx.execute(&statements[4], &[&tid, &bid, &aid, &delta])
                    .await?;
                tx.commit().await?;
            }
            Conn::Mysql { conn, statements } => {
                let mut tx = conn
                    .start_transaction(mysql_async::TxOpts::default())
                    .await?;
                tx.exec_drop(&statements[0], (delta, aid)).await?;
                let _: Option<i32> = tx.exec_first(&statements[1], (aid,)).await?;
                tx.exec_drop(&statements[2], (delta, tid)).await?;
                tx.exec_drop(&statements[3], (delta, bid)).await?;
                tx.exec_drop(&statements[4], (tid, bid, aid, delta)).await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }
}

/// Short warm-up default: long enough to fill caches after a restart on a small data set.
pub const DEFAULT_WARMUP: Duration = Duration::from_secs(2);
