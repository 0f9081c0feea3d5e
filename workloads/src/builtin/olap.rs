//! A small star schema for analytic queries: a sales fact table with date, product, store and
//! customer dimensions, and queries with joins, aggregates and range filters. No secondary
//! indexes: finding the ones that pay is the index advisor's job.

use std::fmt::Write as _;

use knobs::Engine;
use mysql_async::prelude::Queryable;

use crate::load::{copy_rows, insert_rows};
use crate::target::{connect_mysql, connect_postgres};
use crate::{Result, TargetUrl};

const DAYS: i64 = 1096;
const PRODUCTS: i64 = 10_000;
const STORES: i64 = 100;
const CUSTOMERS_PER_SCALE: i64 = 50_000;
const SALES_PER_SCALE: i64 = 500_000;

pub(super) fn expected_counts(scale: u32) -> Vec<(&'static str, i64)> {
    let s = i64::from(scale);
    vec![
        ("olap_date", DAYS),
        ("olap_product", PRODUCTS),
        ("olap_store", STORES),
        ("olap_customer", CUSTOMERS_PER_SCALE * s),
        ("olap_sales", SALES_PER_SCALE * s),
    ]
}

/// A cheap deterministic hash, so that rows are the same on every load and engine.
fn h(i: i64, salt: i64) -> i64 {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (salt as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 29;
    (x >> 1) as i64
}

const TABLES: &str =
    "DROP TABLE IF EXISTS olap_sales, olap_customer, olap_store, olap_product, olap_date";

fn create(engine: Engine) -> String {
    let tail = if engine == Engine::Postgres {
        ""
    } else {
        " ENGINE=InnoDB"
    };
    [
        "CREATE TABLE olap_date (date_id int NOT NULL PRIMARY KEY, day date NOT NULL, month int NOT NULL, year int NOT NULL, weekday int NOT NULL)",
        "CREATE TABLE olap_product (product_id int NOT NULL PRIMARY KEY, category int NOT NULL, brand int NOT NULL, price numeric(10,2) NOT NULL)",
        "CREATE TABLE olap_store (store_id int NOT NULL PRIMARY KEY, region int NOT NULL, size int NOT NULL)",
        "CREATE TABLE olap_customer (customer_id int NOT NULL PRIMARY KEY, segment int NOT NULL, region int NOT NULL)",
        "CREATE TABLE olap_sales (sale_id bigint NOT NULL PRIMARY KEY, date_id int NOT NULL, product_id int NOT NULL, store_id int NOT NULL, customer_id int NOT NULL, quantity int NOT NULL, amount numeric(12,2) NOT NULL)",
    ]
    .iter()
    .map(|t| format!("{t}{tail};"))
    .collect::<Vec<_>>()
    .join("\n")
}

fn day(i: i64) -> (String, i64, i64, i64) {
    // Day i of 2023-01-01 .. 2025-12-31, with simple month arithmetic.
    const MONTHS: [i64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut d = i - 1;
    let mut year = 2023;
    loop {
        let len = if year % 4 == 0 { 366 } else { 365 };
        if d < len {
            break;
        }
        d -= len;
        year += 1;
    }
    let mut month = 0;
    while month < 12 {
        let len = MONTHS[month] + i64::from(month == 1 && year % 4 == 0);
        if d < len {
            break;
        }
        d -= len;
        month += 1;
    }
    (
        format!("{year}-{:02}-{:02}", month + 1, d + 1),
        month as i64 + 1,
        year,
        (i + 6) % 7,
    )
}

pub(super) async fn load(url: &TargetUrl, scale: u32) -> Result<u64> {
    let customers = CUSTOMERS_PER_SCALE * i64::from(scale);
    let sales = SALES_PER_SCALE * i64::from(scale);
    let sale = |i: i64| {
        (
            1 + h(i, 1) % DAYS,
            1 + h(i, 2) % PRODUCTS,
            1 + h(i, 3) % STORES,
            1 + h(i, 4) % customers,
            1 + h(i, 5) % 10,
            h(i, 6) % 100_000,
        )
    };
    match url.family() {
        Engine::Postgres => {
            let c = connect_postgres(url).await?;
            c.batch_execute(&format!("{TABLES};\n{}", create(Engine::Postgres)))
                .await?;
            copy_rows(&c, "COPY olap_date FROM STDIN", DAYS, |b, i| {
                let (d, m, y, w) = day(i);
                writeln!(b, "{i}\t{d}\t{m}\t{y}\t{w}")
            })
            .await?;
            copy_rows(&c, "COPY olap_product FROM STDIN", PRODUCTS, |b, i| {
                writeln!(
                    b,
                    "{i}\t{}\t{}\t{}.{:02}",
                    h(i, 7) % 50,
                    h(i, 8) % 500,
                    1 + h(i, 9) % 500,
                    h(i, 10) % 100
                )
            })
            .await?;
            copy_rows(&c, "COPY olap_store FROM STDIN", STORES, |b, i| {
                writeln!(b, "{i}\t{}\t{}", h(i, 11) % 10, 100 + h(i, 12) % 900)
            })
            .await?;
            copy_rows(&c, "COPY olap_customer FROM STDIN", customers, |b, i| {
                writeln!(b, "{i}\t{}\t{}", h(i, 13) % 5, h(i, 14) % 10)
            })
            .await?;
            copy_rows(&c, "COPY olap_sales FROM STDIN", sales, |b, i| {
                let (d, p, s, cu, q, cents) = sale(i);
                writeln!(
                    b,
                    "{i}\t{d}\t{p}\t{s}\t{cu}\t{q}\t{}.{:02}",
                    cents / 100,
                    cents % 100
                )
            })
            .await?;
            c.batch_execute(
                "VACUUM ANALYZE olap_date, olap_product, olap_store, olap_customer, olap_sales",
            )
            .await?;
        }
        Engine::Mysql | Engine::Mariadb => {
            let mut c = connect_mysql(url).await?;
            c.query_drop(format!("{TABLES};\n{}", create(Engine::Mariadb)))
                .await?;
            insert_rows(&mut c, "INSERT INTO olap_date VALUES ", DAYS, |b, i| {
                let (d, m, y, w) = day(i);
                write!(b, "({i},'{d}',{m},{y},{w})")
            })
            .await?;
            insert_rows(
                &mut c,
                "INSERT INTO olap_product VALUES ",
                PRODUCTS,
                |b, i| {
                    write!(
                        b,
                        "({i},{},{},{}.{:02})",
                        h(i, 7) % 50,
                        h(i, 8) % 500,
                        1 + h(i, 9) % 500,
                        h(i, 10) % 100
                    )
                },
            )
            .await?;
            insert_rows(&mut c, "INSERT INTO olap_store VALUES ", STORES, |b, i| {
                write!(b, "({i},{},{})", h(i, 11) % 10, 100 + h(i, 12) % 900)
            })
            .await?;
            insert_rows(
                &mut c,
                "INSERT INTO olap_customer VALUES ",
                customers,
                |b, i| write!(b, "({i},{},{})", h(i, 13) % 5, h(i, 14) % 10),
            )
            .await?;
            insert_rows(&mut c, "INSERT INTO olap_sales VALUES ", sales, |b, i| {
                let (d, p, s, cu, q, cents) = sale(i);
                write!(
                    b,
                    "({i},{d},{p},{s},{cu},{q},{}.{:02})",
                    cents / 100,
                    cents % 100
                )
            })
            .await?;
            c.query_drop(
                "ANALYZE TABLE olap_date, olap_product, olap_store, olap_customer, olap_sales",
            )
            .await?;
        }
    }
    Ok((DAYS + PRODUCTS + STORES + customers + sales) as u64)
}

pub(super) const SPEC: &str = r#"
version = 1
name = "olap"
description = "Star schema: monthly revenue, top categories in a month, revenue by region for a segment, an amount band, one customer's total"
clients = 2
[variables]
scale = 1
customers_per_scale = 50000
[params.year]
kind = "list"
values = [2023, 2024, 2025]
[params.day]
kind = "uniform"
min = 1
max = 1060
[params.segment]
kind = "uniform"
min = 0
max = 4
[params.low]
kind = "real"
min = 0
max = 900
[params.customer]
kind = "uniform"
min = 1
max = "customers"
[[transactions]]
name = "monthly_revenue"
weight = 1
statements = ["SELECT d.month, sum(s.amount) FROM olap_sales s JOIN olap_date d ON d.date_id = s.date_id WHERE d.year = :year GROUP BY d.month ORDER BY d.month"]
[[transactions]]
name = "top_categories"
weight = 1
statements = ["SELECT p.category, sum(s.quantity) AS units FROM olap_sales s JOIN olap_product p ON p.product_id = s.product_id WHERE s.date_id BETWEEN :day AND :day + 30 GROUP BY p.category ORDER BY units DESC LIMIT 10"]
[[transactions]]
name = "region_revenue"
weight = 1
statements = ["SELECT st.region, count(*), sum(s.amount) FROM olap_sales s JOIN olap_store st ON st.store_id = s.store_id JOIN olap_customer c ON c.customer_id = s.customer_id WHERE c.segment = :segment GROUP BY st.region ORDER BY st.region"]
[[transactions]]
name = "amount_band"
weight = 1
statements = ["SELECT count(*), avg(quantity) FROM olap_sales WHERE amount BETWEEN :low AND :low + 10"]
[[transactions]]
name = "customer_total"
weight = 1
statements = ["SELECT sum(amount) FROM olap_sales WHERE customer_id = :customer"]
"#;
