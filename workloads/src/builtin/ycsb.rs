//! YCSB-like core workloads on one key-value table with zipfian key popularity: A (50% reads,
//! 50% updates), B (95/5), C (read only), E (short range scans and inserts).

use std::fmt::Write as _;

use knobs::Engine;
use mysql_async::prelude::Queryable;

use crate::load::{copy_rows, insert_rows};
use crate::target::{connect_mysql, connect_postgres};
use crate::{Result, TargetUrl};

const RECORDS_PER_SCALE: i64 = 100_000;
const FIELD: &str = "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuv";

pub(super) fn records(scale: u32) -> i64 {
    RECORDS_PER_SCALE * i64::from(scale)
}

/// Create and fill `ycsb_usertable`: a key and five 100-byte fields per record.
pub(super) async fn load(url: &TargetUrl, scale: u32) -> Result<u64> {
    let n = records(scale);
    match url.family() {
        Engine::Postgres => {
            let client = connect_postgres(url).await?;
            client
                .batch_execute(
                    "DROP TABLE IF EXISTS ycsb_usertable;
                     CREATE TABLE ycsb_usertable (ycsb_key bigint NOT NULL, field0 varchar(100), field1 varchar(100), field2 varchar(100), field3 varchar(100), field4 varchar(100));",
                )
                .await?;
            copy_rows(&client, "COPY ycsb_usertable FROM STDIN", n, |b, i| {
                let f = &FIELD[(i % 7) as usize..(i % 7) as usize + 90];
                writeln!(b, "{i}\t{f}\t{f}\t{f}\t{f}\t{f}")
            })
            .await?;
            client
                .batch_execute("ALTER TABLE ycsb_usertable ADD PRIMARY KEY (ycsb_key)")
                .await?;
            client
                .batch_execute("VACUUM ANALYZE ycsb_usertable")
                .await?;
        }
        Engine::Mysql | Engine::Mariadb => {
            let mut conn = connect_mysql(url).await?;
            conn.query_drop(
                "DROP TABLE IF EXISTS ycsb_usertable;
                 CREATE TABLE ycsb_usertable (ycsb_key bigint NOT NULL PRIMARY KEY, field0 varchar(100), field1 varchar(100), field2 varchar(100), field3 varchar(100), field4 varchar(100)) ENGINE=InnoDB;",
            )
            .await?;
            insert_rows(
                &mut conn,
                "INSERT INTO ycsb_usertable VALUES ",
                n,
                |b, i| {
                    let f = &FIELD[(i % 7) as usize..(i % 7) as usize + 90];
                    write!(b, "({i},'{f}','{f}','{f}','{f}','{f}')")
                },
            )
            .await?;
            conn.query_drop("ANALYZE TABLE ycsb_usertable").await?;
        }
    }
    Ok(n as u64)
}

const COMMON: &str = r#"
version = 1
clients = 8
[variables]
scale = 1
records_per_scale = 100000
[params.key]
kind = "zipfian"
min = 1
max = "records"
[params.value]
kind = "string"
length = 100
"#;

const READ: &str = r#"
[[transactions]]
name = "read"
weight = READ_WEIGHT
statements = ["SELECT field0, field1, field2, field3, field4 FROM ycsb_usertable WHERE ycsb_key = :key"]
"#;

const UPDATE: &str = r#"
[[transactions]]
name = "update"
weight = UPDATE_WEIGHT
statements = ["UPDATE ycsb_usertable SET field0 = :value WHERE ycsb_key = :key"]
"#;

const SCAN_AND_INSERT: &str = r#"
[params.length]
kind = "uniform"
min = 1
max = 100
[params.newkey]
kind = "uniform"
min = "records"
max = 1000000000000
[[transactions]]
name = "scan"
weight = 95
statements = ["SELECT ycsb_key, field0 FROM ycsb_usertable WHERE ycsb_key >= :key ORDER BY ycsb_key LIMIT :length"]
[[transactions]]
name = "insert"
weight = 5
statements = ["INSERT INTO ycsb_usertable (ycsb_key, field0, field1, field2, field3, field4) VALUES (:newkey, :value, :value, :value, :value, :value) ON CONFLICT DO NOTHING"]
mysql_statements = ["INSERT IGNORE INTO ycsb_usertable (ycsb_key, field0, field1, field2, field3, field4) VALUES (:newkey, :value, :value, :value, :value, :value)"]
"#;

/// The full TOML text of a YCSB workload.
pub(super) fn text(which: &str) -> String {
    let (description, body) = match which {
        "ycsb-a" => (
            "YCSB A: 50% reads, 50% updates, zipfian keys",
            format!(
                "{}{}",
                READ.replace("READ_WEIGHT", "50"),
                UPDATE.replace("UPDATE_WEIGHT", "50")
            ),
        ),
        "ycsb-b" => (
            "YCSB B: 95% reads, 5% updates, zipfian keys",
            format!(
                "{}{}",
                READ.replace("READ_WEIGHT", "95"),
                UPDATE.replace("UPDATE_WEIGHT", "5")
            ),
        ),
        "ycsb-c" => (
            "YCSB C: read only, zipfian keys",
            READ.replace("READ_WEIGHT", "100"),
        ),
        _ => (
            "YCSB E: 95% short range scans, 5% inserts",
            SCAN_AND_INSERT.to_string(),
        ),
    };
    // Top-level keys first: TOML puts everything after a table header into that table.
    format!("name = \"{which}\"\ndescription = \"{description}\"\n{COMMON}{body}")
}
