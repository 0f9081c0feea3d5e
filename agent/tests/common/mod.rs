//! Helpers shared by the integration tests that compare a server's settings before and after.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::BTreeMap;

use mysql_async::prelude::Queryable;
use workloads::{Target, TargetUrl};

/// Every setting the server reports (pg_settings / SHOW GLOBAL VARIABLES).
pub async fn all_settings(url: &TargetUrl) -> BTreeMap<String, String> {
    match Target::connect(url).await.unwrap() {
        Target::Postgres { client, .. } => client
            .query("SELECT name, setting FROM pg_settings", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect(),
        Target::Mysql { mut conn, .. } => conn
            .query::<(String, String), _>("SHOW GLOBAL VARIABLES")
            .await
            .unwrap()
            .into_iter()
            .collect(),
    }
}

/// The settings of `before` that differ in `after`, one line each.
pub fn diff(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<String> {
    before
        .iter()
        .filter(|(k, v)| after.get(*k) != Some(v))
        .map(|(k, v)| format!("{k}: {v} -> {:?}", after.get(k)))
        .collect()
}
