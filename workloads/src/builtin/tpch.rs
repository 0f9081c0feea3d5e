//! A TPC-H-like decision-support workload, for tuning analytic queries: the eight TPC-H tables
//! filled with the `tpchgen` crate's data (the reference generator's rows, at fractional scale
//! factors from 0.001), and the 22 TPC-H queries written from the specification's definitions,
//! one transaction each (`q01` … `q22`, equal weights), with their substitution parameters
//! drawn the way the specification's qgen draws them.
//!
//! Tables keep the specification's names (`lineitem`, `orders` …) so that the queries also run
//! on a TPC-H database loaded by other tools; the loader refuses to drop a table of one of those
//! names that is not a TPC-H table. Primary keys are the specification's; secondary indexes
//! cover the foreign-key columns (`lineitem(l_partkey, l_suppkey)`, `lineitem(l_suppkey)`,
//! `orders(o_custkey)`, `partsupp(ps_suppkey)`, `customer(c_nationkey)`,
//! `supplier(s_nationkey)`, `nation(n_regionkey)`), with no constraints declared.
//!
//! "Like", not TPC-H: no refresh functions, no power or throughput test, no QphH. Where the
//! workload format (independent draws per parameter) cannot express qgen's rules, the
//! derivation is written in SQL:
//! - Q7: the two nations are a nation key and a shift of 1 ..= 24 (so they always differ), and
//!   the query filters on the nation keys instead of the names.
//! - Q8: the region is the drawn nation's, looked up in `nation`.
//! - Q16, Q22: the 8 sizes (7 country codes) are an arithmetic progression modulo 50 (25) from
//!   a random start with a random step prime to the modulus: always distinct, though not every
//!   set qgen could draw is possible.
//! - Q12: the two ship modes are drawn independently, so they coincide one time in seven
//!   (qgen draws two different ones); the query is then about one ship mode.
//! - LIKE patterns are drawn whole ('%BRASS', 'forest%', '%special%requests%' …) from the
//!   specification's values; Q11's FRACTION (0.0001 / SF) is written into the SQL at the scale.
//! - Q15's view is a common table expression; Q19's join and its predicates common to the three
//!   disjuncts are factored out of the OR (an equivalent form, which MariaDB needs in order not
//!   to plan a cross join).
//!
//! Measured here (2 cores, one draw, PostgreSQL 15 and MariaDB 10.11 with default settings,
//! SF 0.1): every query finished, in at most 0.4 s on PostgreSQL and 3 s on MariaDB (Q9, Q14
//! and Q15 the slowest there); larger scale factors are untested on MariaDB, whose correlated
//! subqueries (Q2, Q17, Q20, Q21) are the first to suffer. Every query runs with a statement
//! timeout (30 s up to SF 1, in proportion above): one that exceeds it is cancelled by the
//! server and counted as a timeout of its query (`TemplateStats::timeouts`), never dropped. Q18
//! selects orders of more than 312 units: at SF 0.1 and below the answer is (almost always)
//! empty.

use std::fmt::{Display, Write as _};

use bytes::Bytes;
use futures_util::SinkExt;
use knobs::Engine;
use mysql_async::prelude::Queryable;
use tpchgen::distribution::Distributions;
use tpchgen::generators::{
    CustomerGenerator, LineItemGenerator, NationGenerator, OrderGenerator, PartGenerator,
    PartSuppGenerator, RegionGenerator, SupplierGenerator,
};

use crate::target::{connect_mysql, connect_postgres};
use crate::{Result, TargetUrl, WorkloadError};

/// Scale factor bounds, in thousandths (SF 0.001 ..= 100).
pub(super) const MIN_THOUSANDTHS: u32 = 1;
pub(super) const MAX_THOUSANDTHS: u32 = 100_000;

/// The tables in load order, each with the column that marks it as a TPC-H table.
const TABLES: [(&str, &str); 8] = [
    ("region", "r_regionkey"),
    ("nation", "n_nationkey"),
    ("part", "p_partkey"),
    ("supplier", "s_suppkey"),
    ("partsupp", "ps_partkey"),
    ("customer", "c_custkey"),
    ("orders", "o_orderkey"),
    ("lineitem", "l_orderkey"),
];

const CREATE: [&str; 8] = [
    "CREATE TABLE region (r_regionkey integer NOT NULL, r_name char(25) NOT NULL, r_comment varchar(152) NOT NULL, PRIMARY KEY (r_regionkey))",
    "CREATE TABLE nation (n_nationkey integer NOT NULL, n_name char(25) NOT NULL, n_regionkey integer NOT NULL, n_comment varchar(152) NOT NULL, PRIMARY KEY (n_nationkey))",
    "CREATE TABLE part (p_partkey integer NOT NULL, p_name varchar(55) NOT NULL, p_mfgr char(25) NOT NULL, p_brand char(10) NOT NULL, p_type varchar(25) NOT NULL, p_size integer NOT NULL, p_container char(10) NOT NULL, p_retailprice decimal(15,2) NOT NULL, p_comment varchar(23) NOT NULL, PRIMARY KEY (p_partkey))",
    "CREATE TABLE supplier (s_suppkey integer NOT NULL, s_name char(25) NOT NULL, s_address varchar(40) NOT NULL, s_nationkey integer NOT NULL, s_phone char(15) NOT NULL, s_acctbal decimal(15,2) NOT NULL, s_comment varchar(101) NOT NULL, PRIMARY KEY (s_suppkey))",
    "CREATE TABLE partsupp (ps_partkey integer NOT NULL, ps_suppkey integer NOT NULL, ps_availqty integer NOT NULL, ps_supplycost decimal(15,2) NOT NULL, ps_comment varchar(199) NOT NULL, PRIMARY KEY (ps_partkey, ps_suppkey))",
    "CREATE TABLE customer (c_custkey integer NOT NULL, c_name varchar(25) NOT NULL, c_address varchar(40) NOT NULL, c_nationkey integer NOT NULL, c_phone char(15) NOT NULL, c_acctbal decimal(15,2) NOT NULL, c_mktsegment char(10) NOT NULL, c_comment varchar(117) NOT NULL, PRIMARY KEY (c_custkey))",
    "CREATE TABLE orders (o_orderkey integer NOT NULL, o_custkey integer NOT NULL, o_orderstatus char(1) NOT NULL, o_totalprice decimal(15,2) NOT NULL, o_orderdate date NOT NULL, o_orderpriority char(15) NOT NULL, o_clerk char(15) NOT NULL, o_shippriority integer NOT NULL, o_comment varchar(79) NOT NULL, PRIMARY KEY (o_orderkey))",
    "CREATE TABLE lineitem (l_orderkey integer NOT NULL, l_partkey integer NOT NULL, l_suppkey integer NOT NULL, l_linenumber integer NOT NULL, l_quantity decimal(15,2) NOT NULL, l_extendedprice decimal(15,2) NOT NULL, l_discount decimal(15,2) NOT NULL, l_tax decimal(15,2) NOT NULL, l_returnflag char(1) NOT NULL, l_linestatus char(1) NOT NULL, l_shipdate date NOT NULL, l_commitdate date NOT NULL, l_receiptdate date NOT NULL, l_shipinstruct char(25) NOT NULL, l_shipmode char(10) NOT NULL, l_comment varchar(44) NOT NULL, PRIMARY KEY (l_orderkey, l_linenumber))",
];

/// Built after the load (faster than maintaining them row by row).
const INDEXES: [&str; 7] = [
    "CREATE INDEX tpch_lineitem_part_supp ON lineitem (l_partkey, l_suppkey)",
    "CREATE INDEX tpch_lineitem_supp ON lineitem (l_suppkey)",
    "CREATE INDEX tpch_orders_cust ON orders (o_custkey)",
    "CREATE INDEX tpch_partsupp_supp ON partsupp (ps_suppkey)",
    "CREATE INDEX tpch_customer_nation ON customer (c_nationkey)",
    "CREATE INDEX tpch_supplier_nation ON supplier (s_nationkey)",
    "CREATE INDEX tpch_nation_region ON nation (n_regionkey)",
];

fn scale_factor(thousandths: u32) -> f64 {
    f64::from(thousandths) / 1000.0
}

fn table_list() -> String {
    TABLES
        .iter()
        .map(|(t, _)| *t)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rows per table as `tpchgen` generates them at this scale factor (lineitem: the sum of the
/// orders' line counts, drawn from the generator's own random stream).
pub(super) fn expected_counts(thousandths: u32) -> Vec<(&'static str, i64)> {
    let sf = scale_factor(thousandths);
    let orders = OrderGenerator::calculate_row_count(sf, 1, 1);
    let mut line_count = OrderGenerator::create_line_count_random();
    let lineitems = (0..orders)
        .map(|_| {
            let n = line_count.next_value();
            line_count.row_finished();
            i64::from(n)
        })
        .sum();
    vec![
        (
            "region",
            RegionGenerator::new(sf, 1, 1).iter().count() as i64,
        ),
        (
            "nation",
            NationGenerator::new(sf, 1, 1).iter().count() as i64,
        ),
        ("part", PartGenerator::calculate_row_count(sf, 1, 1)),
        ("supplier", SupplierGenerator::calculate_row_count(sf, 1, 1)),
        // The generator counts parts; each has four suppliers.
        (
            "partsupp",
            4 * PartSuppGenerator::calculate_row_count(sf, 1, 1),
        ),
        ("customer", CustomerGenerator::calculate_row_count(sf, 1, 1)),
        ("orders", orders),
        ("lineitem", lineitems),
    ]
}

/// Refuse to drop a table of a TPC-H name that lacks its TPC-H key column.
fn check_existing(columns: &[(String, String)]) -> Result<()> {
    for (table, key) in TABLES {
        let exists = columns.iter().any(|(t, _)| t.eq_ignore_ascii_case(table));
        let tpch = columns
            .iter()
            .any(|(t, c)| t.eq_ignore_ascii_case(table) && c.eq_ignore_ascii_case(key));
        if exists && !tpch {
            return Err(WorkloadError::Invalid {
                name: "tpch".into(),
                reason: format!(
                    "table {table} exists without a column {key}: it is not a TPC-H table, so \
                     the tpch load will not drop it (load into another database)"
                ),
            });
        }
    }
    Ok(())
}

fn existing_columns_sql(current_schema: &str, cast: &str) -> String {
    let names = TABLES
        .iter()
        .map(|(t, _)| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT CAST(table_name AS {cast}), CAST(column_name AS {cast}) FROM information_schema.columns \
         WHERE table_schema = {current_schema} AND table_name IN ({names})"
    )
}

/// A `tpchgen` row in COPY text format: its `|`-separated TBL line without the trailing `|`.
fn push_copy_row(buffer: &mut String, row: impl Display) {
    let start = buffer.len();
    let _ = write!(buffer, "{row}");
    if buffer.ends_with('|') {
        buffer.pop();
    }
    if buffer[start..].contains('\\') {
        let escaped = buffer[start..].replace('\\', "\\\\");
        buffer.truncate(start);
        buffer.push_str(&escaped);
    }
    buffer.push('\n');
}

/// A TBL line as a SQL tuple of quoted literals (the server converts them to the column types).
fn push_tuple(out: &mut String, line: &str) {
    let line = line.strip_suffix('|').unwrap_or(line);
    out.push('(');
    for (i, field) in line.split('|').enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('\'');
        for c in field.chars() {
            match c {
                '\'' => out.push_str("\\'"),
                '\\' => out.push_str("\\\\"),
                c => out.push(c),
            }
        }
        out.push('\'');
    }
    out.push(')');
}

async fn copy<T: Display>(
    client: &tokio_postgres::Client,
    table: &str,
    rows: impl Iterator<Item = T>,
) -> Result<u64> {
    let sink = client
        .copy_in::<_, Bytes>(&format!("COPY {table} FROM STDIN WITH (DELIMITER '|')"))
        .await?;
    futures_util::pin_mut!(sink);
    let mut buffer = String::with_capacity(1 << 20);
    let mut count = 0;
    for row in rows {
        push_copy_row(&mut buffer, row);
        count += 1;
        if buffer.len() > 1 << 20 {
            sink.send(Bytes::from(std::mem::take(&mut buffer))).await?;
        }
    }
    sink.send(Bytes::from(buffer)).await?;
    sink.finish().await?;
    Ok(count)
}

async fn insert<T: Display>(
    conn: &mut mysql_async::Conn,
    table: &str,
    rows: impl Iterator<Item = T>,
) -> Result<u64> {
    const BATCH: usize = 2_000;
    let prefix = format!("INSERT INTO {table} VALUES ");
    let mut sql = String::new();
    let mut line = String::new();
    let (mut in_batch, mut count) = (0, 0);
    for row in rows {
        line.clear();
        let _ = write!(line, "{row}");
        sql.push_str(if in_batch == 0 { &prefix } else { "," });
        push_tuple(&mut sql, &line);
        in_batch += 1;
        count += 1;
        if in_batch == BATCH {
            conn.query_drop(std::mem::take(&mut sql)).await?;
            in_batch = 0;
        }
    }
    if in_batch > 0 {
        conn.query_drop(sql).await?;
    }
    Ok(count)
}

/// Create the tables (dropping old TPC-H ones), fill them from `tpchgen`, index the foreign
/// keys and analyze. Returns the rows loaded.
pub(super) async fn load(url: &TargetUrl, thousandths: u32) -> Result<u64> {
    let sf = scale_factor(thousandths);
    let drop = format!("DROP TABLE IF EXISTS {}", table_list());
    let mut rows = 0;
    match url.family() {
        Engine::Postgres => {
            let c = connect_postgres(url).await?;
            let columns: Vec<(String, String)> = c
                .query(&existing_columns_sql("current_schema()", "text"), &[])
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            check_existing(&columns)?;
            c.batch_execute(&format!("{drop};\n{};", CREATE.join(";\n")))
                .await?;
            rows += copy(&c, "region", RegionGenerator::new(sf, 1, 1).iter()).await?;
            rows += copy(&c, "nation", NationGenerator::new(sf, 1, 1).iter()).await?;
            rows += copy(&c, "part", PartGenerator::new(sf, 1, 1).iter()).await?;
            rows += copy(&c, "supplier", SupplierGenerator::new(sf, 1, 1).iter()).await?;
            rows += copy(&c, "partsupp", PartSuppGenerator::new(sf, 1, 1).iter()).await?;
            rows += copy(&c, "customer", CustomerGenerator::new(sf, 1, 1).iter()).await?;
            rows += copy(&c, "orders", OrderGenerator::new(sf, 1, 1).iter()).await?;
            rows += copy(&c, "lineitem", LineItemGenerator::new(sf, 1, 1).iter()).await?;
            c.batch_execute(&format!("{};", INDEXES.join(";\n")))
                .await?;
            c.batch_execute(&format!("VACUUM ANALYZE {}", table_list()))
                .await?;
        }
        Engine::Mysql | Engine::Mariadb => {
            let mut c = connect_mysql(url).await?;
            let columns: Vec<(String, String)> =
                c.query(existing_columns_sql("DATABASE()", "CHAR")).await?;
            check_existing(&columns)?;
            c.query_drop(drop).await?;
            for create in CREATE {
                c.query_drop(format!("{create} ENGINE=InnoDB")).await?;
            }
            rows += insert(&mut c, "region", RegionGenerator::new(sf, 1, 1).iter()).await?;
            rows += insert(&mut c, "nation", NationGenerator::new(sf, 1, 1).iter()).await?;
            rows += insert(&mut c, "part", PartGenerator::new(sf, 1, 1).iter()).await?;
            rows += insert(&mut c, "supplier", SupplierGenerator::new(sf, 1, 1).iter()).await?;
            rows += insert(&mut c, "partsupp", PartSuppGenerator::new(sf, 1, 1).iter()).await?;
            rows += insert(&mut c, "customer", CustomerGenerator::new(sf, 1, 1).iter()).await?;
            rows += insert(&mut c, "orders", OrderGenerator::new(sf, 1, 1).iter()).await?;
            rows += insert(&mut c, "lineitem", LineItemGenerator::new(sf, 1, 1).iter()).await?;
            for index in INDEXES {
                c.query_drop(index).await?;
            }
            c.query_drop(format!("ANALYZE TABLE {}", table_list()))
                .await?;
        }
    }
    Ok(rows)
}

/// One query: its name, its SQL, and MariaDB's spelling where it differs.
struct Query {
    name: &'static str,
    sql: String,
    mysql: Option<String>,
}

fn query(name: &'static str, sql: &str) -> Query {
    Query {
        name,
        sql: one_line(sql),
        mysql: None,
    }
}

/// The SQL on one line (the queries' string literals have no runs of spaces).
fn one_line(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn list_param(out: &mut String, name: &str, values: &[String]) {
    let values = values
        .iter()
        .map(|v| toml_str(v))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(out, "[params.{name}]\nkind = \"list\"\nvalues = [{values}]");
}

fn int_list_param(out: &mut String, name: &str, values: &[i64]) {
    let values = values
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(out, "[params.{name}]\nkind = \"list\"\nvalues = [{values}]");
}

fn uniform_param(out: &mut String, name: &str, min: i64, max: i64) {
    let _ = writeln!(
        out,
        "[params.{name}]\nkind = \"uniform\"\nmin = {min}\nmax = {max}"
    );
}

/// First days of the months from (year, month) to (year, month), inclusive.
fn month_starts(from: (i32, u32), to: (i32, u32)) -> Vec<String> {
    let mut out = Vec::new();
    let (mut y, mut m) = from;
    while (y, m) <= to {
        out.push(format!("{y}-{m:02}-01"));
        m += 1;
        if m > 12 {
            (y, m) = (y + 1, 1);
        }
    }
    out
}

/// January 1 of 1993 ..= 1997.
fn year_starts() -> Vec<String> {
    (1993..=1997).map(|y| format!("{y}-01-01")).collect()
}

/// Brand#MN, M and N in 1 ..= 5.
fn brands() -> Vec<String> {
    (1..=5)
        .flat_map(|m| (1..=5).map(move |n| format!("Brand#{m}{n}")))
        .collect()
}

fn distinct(values: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| v.to_string()).collect()
}

/// `count` distinct values `base + (start + k × step) mod modulus`, as SQL over two parameters.
fn progression(start: &str, step: &str, count: usize, modulus: i64, base: i64) -> Vec<String> {
    (0..count)
        .map(|k| {
            if k == 0 {
                format!("{base} + MOD(:{start}, {modulus})")
            } else {
                format!("{base} + MOD(:{start} + {k} * :{step}, {modulus})")
            }
        })
        .collect()
}

/// The parameters, drawn as qgen draws them (see the module documentation for deviations).
fn params() -> String {
    let d = Distributions::static_default();
    let nations = strings(d.nations().get_values());
    let regions = strings(d.regions().get_values());
    let types = strings(d.part_types().get_values());
    let colors = d.part_colors().get_values();
    let mut p = String::new();
    // Q1: DELTA in [60, 120] days.
    uniform_param(&mut p, "q01_delta", 60, 120);
    // Q2: SIZE in [1, 50], TYPE a third type syllable, REGION.
    uniform_param(&mut p, "q02_size", 1, 50);
    let syllable3 = distinct(
        types
            .iter()
            .filter_map(|t| t.rsplit(' ').next().map(|s| format!("%{s}"))),
    );
    list_param(&mut p, "q02_type", &syllable3);
    list_param(&mut p, "q02_region", &regions);
    // Q3: SEGMENT, DATE a day in [1995-03-01, 1995-03-31].
    list_param(
        &mut p,
        "q03_segment",
        &strings(d.market_segments().get_values()),
    );
    let march: Vec<String> = (1..=31).map(|day| format!("1995-03-{day:02}")).collect();
    list_param(&mut p, "q03_date", &march);
    // Q4: DATE the first day of a month from 1993-01 to 1997-10.
    list_param(&mut p, "q04_date", &month_starts((1993, 1), (1997, 10)));
    // Q5: REGION, DATE January 1 of 1993 ..= 1997.
    list_param(&mut p, "q05_region", &regions);
    list_param(&mut p, "q05_date", &year_starts());
    // Q6: DATE, DISCOUNT 0.02 ..= 0.09 (in hundredths), QUANTITY 24 or 25.
    list_param(&mut p, "q06_date", &year_starts());
    uniform_param(&mut p, "q06_discount", 2, 9);
    uniform_param(&mut p, "q06_quantity", 24, 25);
    // Q7: two different nations (keys).
    uniform_param(&mut p, "q07_nation", 0, 24);
    uniform_param(&mut p, "q07_shift", 1, 24);
    // Q8: NATION (its REGION follows), TYPE a full part type.
    list_param(&mut p, "q08_nation", &nations);
    list_param(&mut p, "q08_type", &types);
    // Q9: COLOR.
    let contains: Vec<String> = colors.iter().map(|c| format!("%{c}%")).collect();
    list_param(&mut p, "q09_color", &contains);
    // Q10: DATE the first day of a month from 1993-02 to 1995-01.
    list_param(&mut p, "q10_date", &month_starts((1993, 2), (1995, 1)));
    // Q11: NATION.
    list_param(&mut p, "q11_nation", &nations);
    // Q12: SHIPMODE1, SHIPMODE2, DATE.
    let modes = strings(d.ship_modes().get_values());
    list_param(&mut p, "q12_shipmode1", &modes);
    list_param(&mut p, "q12_shipmode2", &modes);
    list_param(&mut p, "q12_date", &year_starts());
    // Q13: WORD1 and WORD2.
    let q13: Vec<String> = ["special", "pending", "unusual", "express"]
        .iter()
        .flat_map(|w1| {
            ["packages", "requests", "accounts", "deposits"]
                .iter()
                .map(move |w2| format!("%{w1}%{w2}%"))
        })
        .collect();
    list_param(&mut p, "q13_words", &q13);
    // Q14: DATE the first day of a month of 1993 ..= 1997.
    list_param(&mut p, "q14_date", &month_starts((1993, 1), (1997, 12)));
    // Q15: DATE the first day of a month from 1993-01 to 1997-10.
    list_param(&mut p, "q15_date", &month_starts((1993, 1), (1997, 10)));
    // Q16: BRAND, TYPE two type syllables, 8 distinct sizes in [1, 50].
    list_param(&mut p, "q16_brand", &brands());
    let syllables12 = distinct(types.iter().filter_map(|t| {
        t.rsplit_once(' ')
            .map(|(first_two, _)| format!("{first_two}%"))
    }));
    list_param(&mut p, "q16_type", &syllables12);
    uniform_param(&mut p, "q16_size", 0, 49);
    int_list_param(&mut p, "q16_step", &[1, 3, 7, 9, 11, 13, 17, 19, 21, 23]);
    // Q17: BRAND, CONTAINER.
    list_param(&mut p, "q17_brand", &brands());
    list_param(
        &mut p,
        "q17_container",
        &strings(d.part_containers().get_values()),
    );
    // Q18: QUANTITY in [312, 315].
    uniform_param(&mut p, "q18_quantity", 312, 315);
    // Q19: QUANTITY1 in [1, 10], QUANTITY2 in [10, 20], QUANTITY3 in [20, 30], three brands.
    uniform_param(&mut p, "q19_quantity1", 1, 10);
    uniform_param(&mut p, "q19_quantity2", 10, 20);
    uniform_param(&mut p, "q19_quantity3", 20, 30);
    for b in ["q19_brand1", "q19_brand2", "q19_brand3"] {
        list_param(&mut p, b, &brands());
    }
    // Q20: COLOR (a prefix of p_name), DATE, NATION.
    let prefix: Vec<String> = colors.iter().map(|c| format!("{c}%")).collect();
    list_param(&mut p, "q20_color", &prefix);
    list_param(&mut p, "q20_date", &year_starts());
    list_param(&mut p, "q20_nation", &nations);
    // Q21: NATION.
    list_param(&mut p, "q21_nation", &nations);
    // Q22: 7 distinct country codes in [10, 34].
    uniform_param(&mut p, "q22_code", 0, 24);
    int_list_param(&mut p, "q22_step", &[1, 2, 3, 4, 6, 7, 8, 9, 11, 12]);
    p
}

/// The 22 queries, from the TPC-H specification's definitions.
fn queries(thousandths: u32) -> Vec<Query> {
    let q16_sizes = progression("q16_size", "q16_step", 8, 50, 1).join(", ");
    let q22_codes = progression("q22_code", "q22_step", 7, 25, 10)
        .iter()
        .map(|c| format!("CAST({c} AS CHAR(2))"))
        .collect::<Vec<_>>()
        .join(", ");
    let q01 = "SELECT l_returnflag, l_linestatus, sum(l_quantity) AS sum_qty,
            sum(l_extendedprice) AS sum_base_price,
            sum(l_extendedprice * (1 - l_discount)) AS sum_disc_price,
            sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)) AS sum_charge,
            avg(l_quantity) AS avg_qty, avg(l_extendedprice) AS avg_price,
            avg(l_discount) AS avg_disc, count(*) AS count_order
        FROM lineitem
        WHERE l_shipdate <= DATE '1998-12-01' - CAST(:q01_delta AS INTEGER)
        GROUP BY l_returnflag, l_linestatus
        ORDER BY l_returnflag, l_linestatus";
    vec![
        Query {
            mysql: Some(one_line(&q01.replace(
                "CAST(:q01_delta AS INTEGER)",
                "INTERVAL :q01_delta DAY",
            ))),
            ..query("q01", q01)
        },
        query(
            "q02",
            "SELECT s_acctbal, s_name, n_name, p_partkey, p_mfgr, s_address, s_phone, s_comment
            FROM part, supplier, partsupp, nation, region
            WHERE p_partkey = ps_partkey AND s_suppkey = ps_suppkey AND p_size = :q02_size
                AND p_type LIKE :q02_type AND s_nationkey = n_nationkey
                AND n_regionkey = r_regionkey AND r_name = :q02_region
                AND ps_supplycost = (
                    SELECT min(ps_supplycost) FROM partsupp, supplier, nation, region
                    WHERE p_partkey = ps_partkey AND s_suppkey = ps_suppkey
                        AND s_nationkey = n_nationkey AND n_regionkey = r_regionkey
                        AND r_name = :q02_region)
            ORDER BY s_acctbal DESC, n_name, s_name, p_partkey
            LIMIT 100",
        ),
        query(
            "q03",
            "SELECT l_orderkey, sum(l_extendedprice * (1 - l_discount)) AS revenue, o_orderdate,
                o_shippriority
            FROM customer, orders, lineitem
            WHERE c_mktsegment = :q03_segment AND c_custkey = o_custkey AND l_orderkey = o_orderkey
                AND o_orderdate < CAST(:q03_date AS DATE) AND l_shipdate > CAST(:q03_date AS DATE)
            GROUP BY l_orderkey, o_orderdate, o_shippriority
            ORDER BY revenue DESC, o_orderdate
            LIMIT 10",
        ),
        query(
            "q04",
            "SELECT o_orderpriority, count(*) AS order_count
            FROM orders
            WHERE o_orderdate >= CAST(:q04_date AS DATE)
                AND o_orderdate < CAST(:q04_date AS DATE) + INTERVAL '3' MONTH
                AND EXISTS (SELECT * FROM lineitem
                    WHERE l_orderkey = o_orderkey AND l_commitdate < l_receiptdate)
            GROUP BY o_orderpriority
            ORDER BY o_orderpriority",
        ),
        query(
            "q05",
            "SELECT n_name, sum(l_extendedprice * (1 - l_discount)) AS revenue
            FROM customer, orders, lineitem, supplier, nation, region
            WHERE c_custkey = o_custkey AND l_orderkey = o_orderkey AND l_suppkey = s_suppkey
                AND c_nationkey = s_nationkey AND s_nationkey = n_nationkey
                AND n_regionkey = r_regionkey AND r_name = :q05_region
                AND o_orderdate >= CAST(:q05_date AS DATE)
                AND o_orderdate < CAST(:q05_date AS DATE) + INTERVAL '1' YEAR
            GROUP BY n_name
            ORDER BY revenue DESC",
        ),
        query(
            "q06",
            "SELECT sum(l_extendedprice * l_discount) AS revenue
            FROM lineitem
            WHERE l_shipdate >= CAST(:q06_date AS DATE)
                AND l_shipdate < CAST(:q06_date AS DATE) + INTERVAL '1' YEAR
                AND l_discount BETWEEN (:q06_discount - 1) / 100.0 AND (:q06_discount + 1) / 100.0
                AND l_quantity < :q06_quantity",
        ),
        query(
            "q07",
            "SELECT supp_nation, cust_nation, l_year, sum(volume) AS revenue
            FROM (
                SELECT n1.n_name AS supp_nation, n2.n_name AS cust_nation,
                    EXTRACT(YEAR FROM l_shipdate) AS l_year,
                    l_extendedprice * (1 - l_discount) AS volume
                FROM supplier, lineitem, orders, customer, nation n1, nation n2
                WHERE s_suppkey = l_suppkey AND o_orderkey = l_orderkey AND c_custkey = o_custkey
                    AND s_nationkey = n1.n_nationkey AND c_nationkey = n2.n_nationkey
                    AND ((n1.n_nationkey = :q07_nation
                            AND n2.n_nationkey = MOD(:q07_nation + :q07_shift, 25))
                        OR (n1.n_nationkey = MOD(:q07_nation + :q07_shift, 25)
                            AND n2.n_nationkey = :q07_nation))
                    AND l_shipdate BETWEEN DATE '1995-01-01' AND DATE '1996-12-31'
            ) AS shipping
            GROUP BY supp_nation, cust_nation, l_year
            ORDER BY supp_nation, cust_nation, l_year",
        ),
        query(
            "q08",
            "SELECT o_year,
                sum(CASE WHEN nation = :q08_nation THEN volume ELSE 0 END) / sum(volume) AS mkt_share
            FROM (
                SELECT EXTRACT(YEAR FROM o_orderdate) AS o_year,
                    l_extendedprice * (1 - l_discount) AS volume, n2.n_name AS nation
                FROM part, supplier, lineitem, orders, customer, nation n1, nation n2, region
                WHERE p_partkey = l_partkey AND s_suppkey = l_suppkey AND l_orderkey = o_orderkey
                    AND o_custkey = c_custkey AND c_nationkey = n1.n_nationkey
                    AND n1.n_regionkey = r_regionkey
                    AND r_regionkey = (SELECT n_regionkey FROM nation WHERE n_name = :q08_nation)
                    AND s_nationkey = n2.n_nationkey
                    AND o_orderdate BETWEEN DATE '1995-01-01' AND DATE '1996-12-31'
                    AND p_type = :q08_type
            ) AS all_nations
            GROUP BY o_year
            ORDER BY o_year",
        ),
        query(
            "q09",
            "SELECT nation, o_year, sum(amount) AS sum_profit
            FROM (
                SELECT n_name AS nation, EXTRACT(YEAR FROM o_orderdate) AS o_year,
                    l_extendedprice * (1 - l_discount) - ps_supplycost * l_quantity AS amount
                FROM part, supplier, lineitem, partsupp, orders, nation
                WHERE s_suppkey = l_suppkey AND ps_suppkey = l_suppkey AND ps_partkey = l_partkey
                    AND p_partkey = l_partkey AND o_orderkey = l_orderkey
                    AND s_nationkey = n_nationkey AND p_name LIKE :q09_color
            ) AS profit
            GROUP BY nation, o_year
            ORDER BY nation, o_year DESC",
        ),
        query(
            "q10",
            "SELECT c_custkey, c_name, sum(l_extendedprice * (1 - l_discount)) AS revenue,
                c_acctbal, n_name, c_address, c_phone, c_comment
            FROM customer, orders, lineitem, nation
            WHERE c_custkey = o_custkey AND l_orderkey = o_orderkey
                AND o_orderdate >= CAST(:q10_date AS DATE)
                AND o_orderdate < CAST(:q10_date AS DATE) + INTERVAL '3' MONTH
                AND l_returnflag = 'R' AND c_nationkey = n_nationkey
            GROUP BY c_custkey, c_name, c_acctbal, c_phone, n_name, c_address, c_comment
            ORDER BY revenue DESC
            LIMIT 20",
        ),
        // FRACTION = 0.0001 / SF = 1 / (10 × thousandths).
        query(
            "q11",
            &format!(
                "SELECT ps_partkey, sum(ps_supplycost * ps_availqty) AS value
                FROM partsupp, supplier, nation
                WHERE ps_suppkey = s_suppkey AND s_nationkey = n_nationkey
                    AND n_name = :q11_nation
                GROUP BY ps_partkey
                HAVING sum(ps_supplycost * ps_availqty) > (
                    SELECT sum(ps_supplycost * ps_availqty) / {}
                    FROM partsupp, supplier, nation
                    WHERE ps_suppkey = s_suppkey AND s_nationkey = n_nationkey
                        AND n_name = :q11_nation)
                ORDER BY value DESC",
                10 * u64::from(thousandths)
            ),
        ),
        query(
            "q12",
            "SELECT l_shipmode,
                sum(CASE WHEN o_orderpriority = '1-URGENT' OR o_orderpriority = '2-HIGH'
                    THEN 1 ELSE 0 END) AS high_line_count,
                sum(CASE WHEN o_orderpriority <> '1-URGENT' AND o_orderpriority <> '2-HIGH'
                    THEN 1 ELSE 0 END) AS low_line_count
            FROM orders, lineitem
            WHERE o_orderkey = l_orderkey AND l_shipmode IN (:q12_shipmode1, :q12_shipmode2)
                AND l_commitdate < l_receiptdate AND l_shipdate < l_commitdate
                AND l_receiptdate >= CAST(:q12_date AS DATE)
                AND l_receiptdate < CAST(:q12_date AS DATE) + INTERVAL '1' YEAR
            GROUP BY l_shipmode
            ORDER BY l_shipmode",
        ),
        query(
            "q13",
            "SELECT c_count, count(*) AS custdist
            FROM (
                SELECT c_custkey, count(o_orderkey) AS c_count
                FROM customer LEFT OUTER JOIN orders
                    ON c_custkey = o_custkey AND o_comment NOT LIKE :q13_words
                GROUP BY c_custkey
            ) AS c_orders
            GROUP BY c_count
            ORDER BY custdist DESC, c_count DESC",
        ),
        query(
            "q14",
            "SELECT 100.00 * sum(CASE WHEN p_type LIKE 'PROMO%'
                    THEN l_extendedprice * (1 - l_discount) ELSE 0 END)
                / sum(l_extendedprice * (1 - l_discount)) AS promo_revenue
            FROM lineitem, part
            WHERE l_partkey = p_partkey AND l_shipdate >= CAST(:q14_date AS DATE)
                AND l_shipdate < CAST(:q14_date AS DATE) + INTERVAL '1' MONTH",
        ),
        query(
            "q15",
            "WITH revenue AS (
                SELECT l_suppkey AS supplier_no,
                    sum(l_extendedprice * (1 - l_discount)) AS total_revenue
                FROM lineitem
                WHERE l_shipdate >= CAST(:q15_date AS DATE)
                    AND l_shipdate < CAST(:q15_date AS DATE) + INTERVAL '3' MONTH
                GROUP BY l_suppkey)
            SELECT s_suppkey, s_name, s_address, s_phone, total_revenue
            FROM supplier, revenue
            WHERE s_suppkey = supplier_no
                AND total_revenue = (SELECT max(total_revenue) FROM revenue)
            ORDER BY s_suppkey",
        ),
        query(
            "q16",
            &format!(
                "SELECT p_brand, p_type, p_size, count(DISTINCT ps_suppkey) AS supplier_cnt
                FROM partsupp, part
                WHERE p_partkey = ps_partkey AND p_brand <> :q16_brand
                    AND p_type NOT LIKE :q16_type AND p_size IN ({q16_sizes})
                    AND ps_suppkey NOT IN (
                        SELECT s_suppkey FROM supplier WHERE s_comment LIKE '%Customer%Complaints%')
                GROUP BY p_brand, p_type, p_size
                ORDER BY supplier_cnt DESC, p_brand, p_type, p_size"
            ),
        ),
        query(
            "q17",
            "SELECT sum(l_extendedprice) / 7.0 AS avg_yearly
            FROM lineitem, part
            WHERE p_partkey = l_partkey AND p_brand = :q17_brand AND p_container = :q17_container
                AND l_quantity < (
                    SELECT 0.2 * avg(l_quantity) FROM lineitem WHERE l_partkey = p_partkey)",
        ),
        query(
            "q18",
            "SELECT c_name, c_custkey, o_orderkey, o_orderdate, o_totalprice,
                sum(l_quantity) AS total_quantity
            FROM customer, orders, lineitem
            WHERE o_orderkey IN (
                    SELECT l_orderkey FROM lineitem
                    GROUP BY l_orderkey HAVING sum(l_quantity) > :q18_quantity)
                AND c_custkey = o_custkey AND o_orderkey = l_orderkey
            GROUP BY c_name, c_custkey, o_orderkey, o_orderdate, o_totalprice
            ORDER BY o_totalprice DESC, o_orderdate
            LIMIT 100",
        ),
        query(
            "q19",
            "SELECT sum(l_extendedprice * (1 - l_discount)) AS revenue
            FROM lineitem, part
            WHERE p_partkey = l_partkey AND l_shipmode IN ('AIR', 'AIR REG')
                AND l_shipinstruct = 'DELIVER IN PERSON'
                AND ((p_brand = :q19_brand1
                        AND p_container IN ('SM CASE', 'SM BOX', 'SM PACK', 'SM PKG')
                        AND l_quantity >= :q19_quantity1 AND l_quantity <= :q19_quantity1 + 10
                        AND p_size BETWEEN 1 AND 5)
                    OR (p_brand = :q19_brand2
                        AND p_container IN ('MED BAG', 'MED BOX', 'MED PKG', 'MED PACK')
                        AND l_quantity >= :q19_quantity2 AND l_quantity <= :q19_quantity2 + 10
                        AND p_size BETWEEN 1 AND 10)
                    OR (p_brand = :q19_brand3
                        AND p_container IN ('LG CASE', 'LG BOX', 'LG PACK', 'LG PKG')
                        AND l_quantity >= :q19_quantity3 AND l_quantity <= :q19_quantity3 + 10
                        AND p_size BETWEEN 1 AND 15))",
        ),
        query(
            "q20",
            "SELECT s_name, s_address
            FROM supplier, nation
            WHERE s_suppkey IN (
                    SELECT ps_suppkey FROM partsupp
                    WHERE ps_partkey IN (SELECT p_partkey FROM part WHERE p_name LIKE :q20_color)
                        AND ps_availqty > (
                            SELECT 0.5 * sum(l_quantity) FROM lineitem
                            WHERE l_partkey = ps_partkey AND l_suppkey = ps_suppkey
                                AND l_shipdate >= CAST(:q20_date AS DATE)
                                AND l_shipdate < CAST(:q20_date AS DATE) + INTERVAL '1' YEAR))
                AND s_nationkey = n_nationkey AND n_name = :q20_nation
            ORDER BY s_name",
        ),
        query(
            "q21",
            "SELECT s_name, count(*) AS numwait
            FROM supplier, lineitem l1, orders, nation
            WHERE s_suppkey = l1.l_suppkey AND o_orderkey = l1.l_orderkey
                AND o_orderstatus = 'F' AND l1.l_receiptdate > l1.l_commitdate
                AND EXISTS (SELECT * FROM lineitem l2
                    WHERE l2.l_orderkey = l1.l_orderkey AND l2.l_suppkey <> l1.l_suppkey)
                AND NOT EXISTS (SELECT * FROM lineitem l3
                    WHERE l3.l_orderkey = l1.l_orderkey AND l3.l_suppkey <> l1.l_suppkey
                        AND l3.l_receiptdate > l3.l_commitdate)
                AND s_nationkey = n_nationkey AND n_name = :q21_nation
            GROUP BY s_name
            ORDER BY numwait DESC, s_name
            LIMIT 100",
        ),
        query(
            "q22",
            &format!(
                "SELECT cntrycode, count(*) AS numcust, sum(c_acctbal) AS totacctbal
                FROM (
                    SELECT SUBSTRING(c_phone FROM 1 FOR 2) AS cntrycode, c_acctbal
                    FROM customer
                    WHERE SUBSTRING(c_phone FROM 1 FOR 2) IN ({q22_codes})
                        AND c_acctbal > (
                            SELECT avg(c_acctbal) FROM customer
                            WHERE c_acctbal > 0.00
                                AND SUBSTRING(c_phone FROM 1 FOR 2) IN ({q22_codes}))
                        AND NOT EXISTS (SELECT * FROM orders WHERE o_custkey = c_custkey)
                ) AS custsale
                GROUP BY cntrycode
                ORDER BY cntrycode"
            ),
        ),
    ]
}

/// The workload file text at a scale factor in thousandths.
/// Each query's limit: 30 s up to SF 1, then in proportion to the scale. At SF 0.1 every query
/// finished here in at most 3 s (MariaDB); a query that needs ten times that is a finding to
/// list, not a run to wait for.
fn statement_timeout_ms(thousandths: u32) -> u64 {
    30_000 * u64::from(thousandths.div_ceil(1000).max(1))
}

pub(super) fn text(thousandths: u32) -> String {
    let mut out = format!(
        "version = 1\nname = \"tpch\"\n\
         description = \"TPC-H-like: the 22 decision-support queries with qgen-like parameters, one transaction each, equal weights\"\n\
         clients = 2\nstatement_timeout_ms = {}\n[variables]\nscale = {}\n{}",
        statement_timeout_ms(thousandths),
        scale_factor(thousandths),
        params()
    );
    for q in queries(thousandths) {
        let _ = writeln!(
            out,
            "[[transactions]]\nname = \"{}\"\nweight = 1\nstatements = [{}]",
            q.name,
            toml_str(&q.sql)
        );
        if let Some(my) = &q.mysql {
            let _ = writeln!(out, "mysql_statements = [{}]", toml_str(my));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tbl_rows_become_copy_rows_and_tuples() {
        let mut b = String::new();
        push_copy_row(&mut b, "1|AFRICA|lar deposits|");
        push_copy_row(&mut b, "2|a\\b|");
        assert_eq!(b, "1|AFRICA|lar deposits\n2|a\\\\b\n");
        let mut t = String::new();
        push_tuple(&mut t, "1|it's|x|");
        assert_eq!(t, "('1','it\\'s','x')");
    }

    #[test]
    fn progressions_are_distinct() {
        for step in [1, 3, 7, 9, 11, 13, 17, 19, 21, 23] {
            for start in 0..50 {
                let mut v: Vec<i64> = (0..8).map(|k| 1 + (start + k * step) % 50).collect();
                v.sort_unstable();
                v.dedup();
                assert_eq!(v.len(), 8, "step {step}");
                assert!(v.iter().all(|s| (1..=50).contains(s)));
            }
        }
        for step in [1, 2, 3, 4, 6, 7, 8, 9, 11, 12] {
            for start in 0..25 {
                let mut v: Vec<i64> = (0..7).map(|k| 10 + (start + k * step) % 25).collect();
                v.sort_unstable();
                v.dedup();
                assert_eq!(v.len(), 7, "step {step}");
                assert!(v.iter().all(|c| (10..=34).contains(c)));
            }
        }
    }

    #[test]
    fn refuses_to_drop_foreign_tables() {
        let ours = vec![("orders".to_string(), "o_orderkey".to_string())];
        assert!(check_existing(&ours).is_ok());
        let theirs = vec![("ORDERS".to_string(), "id".to_string())];
        let err = check_existing(&theirs).unwrap_err().to_string();
        assert!(
            err.contains("orders") && err.contains("o_orderkey"),
            "{err}"
        );
    }
}
