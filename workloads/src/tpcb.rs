//! A TPC-B-like benchmark (as pgbench runs it): branches, tellers, accounts and history, and
//! one write transaction that updates a balance in each and appends to history. Own schema and
//! loader for PostgreSQL (COPY) and MySQL/MariaDB (multi-row INSERT).

use std::fmt::Write as _;

use knobs::Engine;
use mysql_async::prelude::Queryable;
use serde::{Deserialize, Serialize};

use crate::load::{copy_rows, insert_rows};
use crate::target::{connect_mysql, connect_postgres};
use crate::{Result, TargetUrl, WorkloadError};

const ACCOUNTS_PER_BRANCH: i64 = 100_000;
const TELLERS_PER_BRANCH: i64 = 10;

/// The benchmark at a scale factor (branches; 100,000 accounts each).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Tpcb {
    pub scale: u32,
}

struct Counts {
    branches: i64,
    tellers: i64,
    accounts: i64,
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

    /// (table, rows) of the tables whose size the scale fixes.
    pub fn expected_counts(&self) -> Vec<(&'static str, i64)> {
        let c = self.counts();
        vec![
            ("tpcb_branches", c.branches),
            ("tpcb_tellers", c.tellers),
            ("tpcb_accounts", c.accounts),
        ]
    }

    fn counts(&self) -> Counts {
        let s = i64::from(self.scale);
        Counts {
            branches: s,
            tellers: s * TELLERS_PER_BRANCH,
            accounts: s * ACCOUNTS_PER_BRANCH,
        }
    }

    /// Create the tables (dropping old ones) and fill them; returns the rows loaded.
    pub async fn load(&self, url: &TargetUrl) -> Result<u64> {
        match url.family() {
            Engine::Postgres => self.load_postgres(url).await?,
            Engine::Mysql | Engine::Mariadb => self.load_mysql(url).await?,
        }
        Ok(self.expected_counts().iter().map(|(_, n)| *n as u64).sum())
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
        let c = self.counts();
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
        let c = self.counts();
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
}
