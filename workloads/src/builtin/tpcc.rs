//! A TPC-C-like order-entry workload: warehouses, districts, customers, items, stock, orders,
//! new orders, order lines and history, with the five transactions in TPC-C's mix (new order
//! 45%, payment 43%, order status, delivery and stock level 4% each).
//!
//! New order reads the district's `d_next_o_id` under a row lock and uses it as the order id,
//! and stock level reads it for the last 20 orders, as TPC-C says (the workload format's
//! bindings). "Like", not TPC-C: five lines per order, uniform (not NURand) customer and item
//! choice, a delivery of one district per transaction, no think times. Good for tuning
//! comparisons, not for tpmC claims.

use std::fmt::Write as _;

use knobs::Engine;
use mysql_async::prelude::Queryable;

use crate::load::{copy_rows, insert_rows};
use crate::target::{connect_mysql, connect_postgres};
use crate::{Result, TargetUrl};

const DISTRICTS: i64 = 10;
const CUSTOMERS: i64 = 3000; // per district
const ITEMS: i64 = 100_000;
const LINES: i64 = 5; // per order
const FIRST_UNDELIVERED: i64 = 2101;

pub(super) fn expected_counts(scale: u32) -> Vec<(&'static str, i64)> {
    let w = i64::from(scale);
    vec![
        ("tpcc_warehouse", w),
        ("tpcc_district", w * DISTRICTS),
        ("tpcc_customer", w * DISTRICTS * CUSTOMERS),
        ("tpcc_item", ITEMS),
        ("tpcc_stock", w * ITEMS),
        ("tpcc_orders", w * DISTRICTS * CUSTOMERS),
        ("tpcc_order_line", w * DISTRICTS * CUSTOMERS * LINES),
    ]
}

fn schema(engine: Engine) -> String {
    let tail = if engine == Engine::Postgres {
        ""
    } else {
        " ENGINE=InnoDB"
    };
    [
        "CREATE TABLE tpcc_warehouse (w_id int NOT NULL PRIMARY KEY, w_name varchar(10) NOT NULL, w_tax numeric(4,4) NOT NULL, w_ytd numeric(14,2) NOT NULL)",
        "CREATE TABLE tpcc_district (d_w_id int NOT NULL, d_id int NOT NULL, d_name varchar(10) NOT NULL, d_tax numeric(4,4) NOT NULL, d_ytd numeric(14,2) NOT NULL, d_next_o_id int NOT NULL, PRIMARY KEY (d_w_id, d_id))",
        "CREATE TABLE tpcc_customer (c_w_id int NOT NULL, c_d_id int NOT NULL, c_id int NOT NULL, c_last varchar(16) NOT NULL, c_discount numeric(4,4) NOT NULL, c_balance numeric(14,2) NOT NULL, c_ytd_payment numeric(14,2) NOT NULL, c_payment_cnt int NOT NULL, PRIMARY KEY (c_w_id, c_d_id, c_id))",
        "CREATE TABLE tpcc_item (i_id int NOT NULL PRIMARY KEY, i_name varchar(24) NOT NULL, i_price numeric(5,2) NOT NULL)",
        "CREATE TABLE tpcc_stock (s_w_id int NOT NULL, s_i_id int NOT NULL, s_quantity int NOT NULL, s_ytd int NOT NULL, s_order_cnt int NOT NULL, PRIMARY KEY (s_w_id, s_i_id))",
        "CREATE TABLE tpcc_orders (o_w_id int NOT NULL, o_d_id int NOT NULL, o_id bigint NOT NULL, o_c_id int NOT NULL, o_entry_d timestamp NULL, o_carrier_id int NULL, o_ol_cnt int NOT NULL, PRIMARY KEY (o_w_id, o_d_id, o_id))",
        "CREATE TABLE tpcc_new_order (no_w_id int NOT NULL, no_d_id int NOT NULL, no_o_id bigint NOT NULL, PRIMARY KEY (no_w_id, no_d_id, no_o_id))",
        "CREATE TABLE tpcc_order_line (ol_w_id int NOT NULL, ol_d_id int NOT NULL, ol_o_id bigint NOT NULL, ol_number int NOT NULL, ol_i_id int NOT NULL, ol_quantity int NOT NULL, ol_amount numeric(8,2) NOT NULL, ol_delivery_d timestamp NULL, PRIMARY KEY (ol_w_id, ol_d_id, ol_o_id, ol_number))",
        "CREATE TABLE tpcc_history (h_c_id int NOT NULL, h_c_d_id int NOT NULL, h_c_w_id int NOT NULL, h_d_id int NOT NULL, h_w_id int NOT NULL, h_date timestamp NULL, h_amount numeric(8,2) NOT NULL)",
    ]
    .iter()
    .map(|t| format!("{t}{tail};"))
    .collect::<Vec<_>>()
    .join("\n")
}

const DROP: &str = "DROP TABLE IF EXISTS tpcc_history, tpcc_order_line, tpcc_new_order, tpcc_orders, tpcc_stock, tpcc_item, tpcc_customer, tpcc_district, tpcc_warehouse";

/// Split a running index into (warehouse, district, customer-or-order) ids, all from 1.
fn wdc(i: i64) -> (i64, i64, i64) {
    let k = i - 1;
    (
        k / (DISTRICTS * CUSTOMERS) + 1,
        (k / CUSTOMERS) % DISTRICTS + 1,
        k % CUSTOMERS + 1,
    )
}

pub(super) async fn load(url: &TargetUrl, scale: u32) -> Result<u64> {
    let w = i64::from(scale);
    let per = w * DISTRICTS * CUSTOMERS;
    // Row writers shared by both loaders; tab-separated for COPY, SQL tuples for INSERT.
    let warehouse = |i: i64| (i, format!("W{i}"), "0.1000", "300000.00");
    let district = |i: i64| ((i - 1) / DISTRICTS + 1, (i - 1) % DISTRICTS + 1);
    let order = |i: i64| {
        let (ww, d, o) = wdc(i);
        let carrier = if o < FIRST_UNDELIVERED {
            Some(1 + o % 10)
        } else {
            None
        };
        (ww, d, o, carrier)
    };
    match url.family() {
        Engine::Postgres => {
            let c = connect_postgres(url).await?;
            c.batch_execute(&format!("{DROP};\n{}", schema(Engine::Postgres)))
                .await?;
            copy_rows(&c, "COPY tpcc_warehouse FROM STDIN", w, |b, i| {
                let (id, n, t, y) = warehouse(i);
                writeln!(b, "{id}\t{n}\t{t}\t{y}")
            })
            .await?;
            copy_rows(
                &c,
                "COPY tpcc_district FROM STDIN",
                w * DISTRICTS,
                |b, i| {
                    let (ww, d) = district(i);
                    writeln!(b, "{ww}\t{d}\tD{d}\t0.0500\t30000.00\t{}", CUSTOMERS + 1)
                },
            )
            .await?;
            copy_rows(&c, "COPY tpcc_customer FROM STDIN", per, |b, i| {
                let (ww, d, cu) = wdc(i);
                writeln!(
                    b,
                    "{ww}\t{d}\t{cu}\tLAST{}\t0.{:04}\t-10.00\t10.00\t1",
                    cu % 1000,
                    cu % 5000
                )
            })
            .await?;
            copy_rows(&c, "COPY tpcc_item FROM STDIN", ITEMS, |b, i| {
                writeln!(b, "{i}\titem{i}\t{}.{:02}", 1 + i % 100, i % 100)
            })
            .await?;
            copy_rows(&c, "COPY tpcc_stock FROM STDIN", w * ITEMS, |b, i| {
                writeln!(
                    b,
                    "{}\t{}\t{}\t0\t0",
                    (i - 1) / ITEMS + 1,
                    (i - 1) % ITEMS + 1,
                    10 + i % 91
                )
            })
            .await?;
            copy_rows(&c, "COPY tpcc_orders (o_w_id, o_d_id, o_id, o_c_id, o_entry_d, o_carrier_id, o_ol_cnt) FROM STDIN", per, |b, i| {
                let (ww, d, o, carrier) = order(i);
                writeln!(b, "{ww}\t{d}\t{o}\t{o}\t2026-01-01 00:00:00\t{}\t{LINES}", carrier.map(|c| c.to_string()).unwrap_or_else(|| "\\N".into()))
            })
            .await?;
            copy_rows(&c, "COPY tpcc_new_order FROM STDIN", per, |b, i| {
                let (ww, d, o, carrier) = order(i);
                if carrier.is_none() {
                    writeln!(b, "{ww}\t{d}\t{o}")?;
                }
                Ok(())
            })
            .await?;
            copy_rows(&c, "COPY tpcc_order_line (ol_w_id, ol_d_id, ol_o_id, ol_number, ol_i_id, ol_quantity, ol_amount) FROM STDIN", per * LINES, |b, i| {
                let (ww, d, o, _) = order((i - 1) / LINES + 1);
                writeln!(b, "{ww}\t{d}\t{o}\t{}\t{}\t5\t{}.00", (i - 1) % LINES + 1, 1 + (i * 7919) % ITEMS, i % 100)
            })
            .await?;
            c.batch_execute("VACUUM ANALYZE tpcc_warehouse, tpcc_district, tpcc_customer, tpcc_item, tpcc_stock, tpcc_orders, tpcc_new_order, tpcc_order_line").await?;
        }
        Engine::Mysql | Engine::Mariadb => {
            let mut c = connect_mysql(url).await?;
            c.query_drop(format!("{DROP};\n{}", schema(Engine::Mariadb)))
                .await?;
            insert_rows(&mut c, "INSERT INTO tpcc_warehouse VALUES ", w, |b, i| {
                let (id, n, t, y) = warehouse(i);
                write!(b, "({id},'{n}',{t},{y})")
            })
            .await?;
            insert_rows(
                &mut c,
                "INSERT INTO tpcc_district VALUES ",
                w * DISTRICTS,
                |b, i| {
                    let (ww, d) = district(i);
                    write!(b, "({ww},{d},'D{d}',0.0500,30000.00,{})", CUSTOMERS + 1)
                },
            )
            .await?;
            insert_rows(&mut c, "INSERT INTO tpcc_customer VALUES ", per, |b, i| {
                let (ww, d, cu) = wdc(i);
                write!(
                    b,
                    "({ww},{d},{cu},'LAST{}',0.{:04},-10.00,10.00,1)",
                    cu % 1000,
                    cu % 5000
                )
            })
            .await?;
            insert_rows(&mut c, "INSERT INTO tpcc_item VALUES ", ITEMS, |b, i| {
                write!(b, "({i},'item{i}',{}.{:02})", 1 + i % 100, i % 100)
            })
            .await?;
            insert_rows(
                &mut c,
                "INSERT INTO tpcc_stock VALUES ",
                w * ITEMS,
                |b, i| {
                    write!(
                        b,
                        "({},{},{},0,0)",
                        (i - 1) / ITEMS + 1,
                        (i - 1) % ITEMS + 1,
                        10 + i % 91
                    )
                },
            )
            .await?;
            insert_rows(&mut c, "INSERT INTO tpcc_orders VALUES ", per, |b, i| {
                let (ww, d, o, carrier) = order(i);
                write!(
                    b,
                    "({ww},{d},{o},{o},'2026-01-01 00:00:00',{},{LINES})",
                    carrier
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "NULL".into())
                )
            })
            .await?;
            let undelivered = CUSTOMERS - FIRST_UNDELIVERED + 1;
            insert_rows(
                &mut c,
                "INSERT INTO tpcc_new_order VALUES ",
                w * DISTRICTS * undelivered,
                |b, i| {
                    let k = i - 1;
                    write!(
                        b,
                        "({},{},{})",
                        k / (DISTRICTS * undelivered) + 1,
                        (k / undelivered) % DISTRICTS + 1,
                        FIRST_UNDELIVERED + k % undelivered
                    )
                },
            )
            .await?;
            insert_rows(&mut c, "INSERT INTO tpcc_order_line (ol_w_id, ol_d_id, ol_o_id, ol_number, ol_i_id, ol_quantity, ol_amount) VALUES ", per * LINES, |b, i| {
                let (ww, d, o, _) = order((i - 1) / LINES + 1);
                write!(b, "({ww},{d},{o},{},{},5,{}.00)", (i - 1) % LINES + 1, 1 + (i * 7919) % ITEMS, i % 100)
            })
            .await?;
            c.query_drop("ANALYZE TABLE tpcc_warehouse, tpcc_district, tpcc_customer, tpcc_item, tpcc_stock, tpcc_orders, tpcc_new_order, tpcc_order_line").await?;
        }
    }
    Ok(expected_counts(scale)
        .iter()
        .map(|(_, n)| *n as u64)
        .sum::<u64>()
        + (w * DISTRICTS * (CUSTOMERS - FIRST_UNDELIVERED + 1)) as u64)
}

/// The workload: the new-order line block is written out five times.
pub(super) fn text() -> String {
    // As TPC-C says: the order id is the district's next one, read under a row lock.
    let mut new_order = vec![
        "{ sql = \"SELECT d_next_o_id, d_tax FROM tpcc_district WHERE d_w_id = :w AND d_id = :d FOR UPDATE\", into = [\"oid\"] }".to_string(),
        "\"UPDATE tpcc_district SET d_next_o_id = :oid + 1 WHERE d_w_id = :w AND d_id = :d\"".to_string(),
        "\"SELECT c_discount, c_last FROM tpcc_customer WHERE c_w_id = :w AND c_d_id = :d AND c_id = :c\"".to_string(),
        format!("\"INSERT INTO tpcc_orders (o_w_id, o_d_id, o_id, o_c_id, o_entry_d, o_ol_cnt) VALUES (:w, :d, :oid, :c, CURRENT_TIMESTAMP, {LINES})\""),
        "\"INSERT INTO tpcc_new_order (no_w_id, no_d_id, no_o_id) VALUES (:w, :d, :oid)\"".to_string(),
    ];
    for k in 1..=LINES {
        new_order.push(format!(
            "\"SELECT i_price FROM tpcc_item WHERE i_id = :i{k}\""
        ));
        new_order.push(format!("\"UPDATE tpcc_stock SET s_quantity = CASE WHEN s_quantity > :q{k} + 10 THEN s_quantity - :q{k} ELSE s_quantity + 91 - :q{k} END, s_ytd = s_ytd + :q{k}, s_order_cnt = s_order_cnt + 1 WHERE s_w_id = :w AND s_i_id = :i{k}\""));
        new_order.push(format!("\"INSERT INTO tpcc_order_line (ol_w_id, ol_d_id, ol_o_id, ol_number, ol_i_id, ol_quantity, ol_amount) VALUES (:w, :d, :oid, {k}, :i{k}, :q{k}, :q{k} * 10)\""));
    }
    let list = |v: &[String]| {
        v.iter()
            .map(|s| format!("  {s},"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut params = String::new();
    for k in 1..=LINES {
        params.push_str(&format!("[params.i{k}]\nkind = \"uniform\"\nmin = 1\nmax = {ITEMS}\n[params.q{k}]\nkind = \"uniform\"\nmin = 1\nmax = 10\n"));
    }
    format!(
        r#"version = 1
name = "tpcc"
description = "TPC-C-like order entry: new order 45%, payment 43%, order status, delivery, stock level 4% each"
clients = 8
[variables]
scale = 1
[params.w]
kind = "uniform"
min = 1
max = "scale"
[params.d]
kind = "uniform"
min = 1
max = {DISTRICTS}
[params.c]
kind = "uniform"
min = 1
max = {CUSTOMERS}
[params.amount]
kind = "real"
min = 1
max = 5000
[params.carrier]
kind = "uniform"
min = 1
max = 10
[params.threshold]
kind = "uniform"
min = 10
max = 20
{params}
[[transactions]]
name = "new_order"
weight = 45
statements = [
{new_order}
]
[[transactions]]
name = "payment"
weight = 43
statements = [
  "UPDATE tpcc_warehouse SET w_ytd = w_ytd + :amount WHERE w_id = :w",
  "UPDATE tpcc_district SET d_ytd = d_ytd + :amount WHERE d_w_id = :w AND d_id = :d",
  "UPDATE tpcc_customer SET c_balance = c_balance - :amount, c_ytd_payment = c_ytd_payment + :amount, c_payment_cnt = c_payment_cnt + 1 WHERE c_w_id = :w AND c_d_id = :d AND c_id = :c",
  "INSERT INTO tpcc_history (h_c_id, h_c_d_id, h_c_w_id, h_d_id, h_w_id, h_date, h_amount) VALUES (:c, :d, :w, :d, :w, CURRENT_TIMESTAMP, :amount)",
]
[[transactions]]
name = "order_status"
weight = 4
statements = [
  "SELECT c_balance, c_last FROM tpcc_customer WHERE c_w_id = :w AND c_d_id = :d AND c_id = :c",
  "SELECT o_id, o_entry_d, o_carrier_id FROM tpcc_orders WHERE o_w_id = :w AND o_d_id = :d AND o_c_id = :c ORDER BY o_id DESC LIMIT 1",
  "SELECT ol_i_id, ol_quantity, ol_amount FROM tpcc_order_line WHERE ol_w_id = :w AND ol_d_id = :d AND ol_o_id = (SELECT max(o_id) FROM tpcc_orders WHERE o_w_id = :w AND o_d_id = :d AND o_c_id = :c)",
]
[[transactions]]
name = "delivery"
weight = 4
statements = [
  "DELETE FROM tpcc_new_order WHERE no_w_id = :w AND no_d_id = :d AND no_o_id = (SELECT min(no_o_id) FROM tpcc_new_order WHERE no_w_id = :w AND no_d_id = :d)",
  "UPDATE tpcc_orders SET o_carrier_id = :carrier WHERE o_w_id = :w AND o_d_id = :d AND o_id = (SELECT min(o_id) FROM tpcc_orders WHERE o_w_id = :w AND o_d_id = :d AND o_carrier_id IS NULL)",
]
mysql_statements = [
  "DELETE FROM tpcc_new_order WHERE no_w_id = :w AND no_d_id = :d ORDER BY no_o_id LIMIT 1",
  "UPDATE tpcc_orders SET o_carrier_id = :carrier WHERE o_w_id = :w AND o_d_id = :d AND o_carrier_id IS NULL ORDER BY o_id LIMIT 1",
]
[[transactions]]
name = "stock_level"
weight = 4
statements = [
  {{ sql = "SELECT d_next_o_id FROM tpcc_district WHERE d_w_id = :w AND d_id = :d", into = ["next_o"] }},
  "SELECT count(DISTINCT s_i_id) FROM tpcc_order_line JOIN tpcc_stock ON s_w_id = ol_w_id AND s_i_id = ol_i_id WHERE ol_w_id = :w AND ol_d_id = :d AND ol_o_id BETWEEN :next_o - 20 AND :next_o - 1 AND s_quantity < :threshold",
]
"#,
        new_order = list(&new_order)
    )
}
