//! Fast bulk loading shared by the built-in benchmarks: COPY on PostgreSQL, multi-row INSERT
//! on MySQL/MariaDB, rows generated on the fly.

use bytes::Bytes;
use futures_util::SinkExt;
use mysql_async::prelude::Queryable;

use crate::Result;

pub(crate) async fn copy_rows(
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

pub(crate) async fn insert_rows(
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
