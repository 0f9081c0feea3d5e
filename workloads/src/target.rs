//! Connections to a target database from a URL (`postgres://…`, `mysql://…`), with engine and
//! version detection. Passwords never appear in `Debug`, `Display` or logs.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use knobs::Engine;
use thiserror::Error;

use crate::redact::redact;
use crate::tls::{RootCerts, SslMode, TlsSettings};

/// TLS parameters dbtuner reads itself and hands to no driver (tokio-postgres knows only
/// three of libpq's modes, mysql_async none of these names).
const TLS_PARAMETERS: [&str; 4] = ["sslmode", "ssl-mode", "sslrootcert", "ssl-ca"];
/// What mysql_async refuses besides: ours, which tokio-postgres does read.
const NOT_FOR_MYSQL: [&str; 2] = ["connect_timeout", "password"];

/// How long a connection may take to be established (TCP, TLS, authentication) when the URL
/// has no `connect_timeout`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Error)]
pub enum TargetError {
    #[error("bad target URL '{url}': {reason}")]
    BadUrl { url: String, reason: String },
    #[error("authentication failed for {url}: {detail}")]
    Auth { url: String, detail: String },
    #[error("cannot reach {url}: {detail} (is the server running and listening there?)")]
    Unreachable { url: String, detail: String },
    #[error("TLS with {url} failed: {detail}")]
    Tls { url: String, detail: String },
    #[error("{url}: {detail}")]
    Other { url: String, detail: String },
}

impl TargetError {
    pub fn is_bad_input(&self) -> bool {
        matches!(self, TargetError::BadUrl { .. })
    }
}

/// A parsed target URL. Keeps the password, but prints without it.
#[derive(Clone, PartialEq)]
pub struct TargetUrl {
    url: url::Url,
    family: Engine,
}

impl TargetUrl {
    /// Engine family from the scheme: `Postgres`, or `Mysql` for both MySQL and MariaDB (which
    /// one is known only after connecting).
    pub fn family(&self) -> Engine {
        self.family
    }

    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or("localhost")
    }

    pub fn port(&self) -> u16 {
        self.url
            .port()
            .unwrap_or(if self.family == Engine::Postgres {
                5432
            } else {
                3306
            })
    }

    pub fn database(&self) -> Option<&str> {
        Some(self.url.path().trim_start_matches('/')).filter(|d| !d.is_empty())
    }

    /// The full URL, password included: only for handing to a driver.
    pub fn expose(&self) -> &str {
        self.url.as_str()
    }

    /// The same server with another database.
    pub fn with_database(&self, database: &str) -> TargetUrl {
        let mut url = self.url.clone();
        url.set_path(&format!("/{database}"));
        TargetUrl {
            url,
            family: self.family,
        }
    }

    fn redacted(&self) -> String {
        redact(self.url.as_str())
    }

    /// `connect_timeout` of the URL, in seconds as libpq reads it (0 waits forever); 10 s
    /// when absent.
    pub fn connect_timeout(&self) -> Option<Duration> {
        match self.query_value("connect_timeout") {
            None => Some(DEFAULT_CONNECT_TIMEOUT),
            Some(text) => match parse_connect_timeout(&text) {
                Ok(0) => None,
                // libpq: anything below 2 s is taken as 2 s.
                Ok(secs) => Some(Duration::from_secs(secs.max(2))),
                Err(_) => Some(DEFAULT_CONNECT_TIMEOUT),
            },
        }
    }

    /// The last value of a query parameter.
    fn query_value(&self, key: &str) -> Option<String> {
        query_value(&self.url, key)
    }

    /// `sslmode` and `sslrootcert` (or MySQL's `ssl-mode` and `ssl-ca`); checked at parse.
    pub fn tls(&self) -> TlsSettings {
        tls_settings(&self.url).unwrap_or_default()
    }

    /// The URL without the query parameters `dropped`.
    fn without(&self, dropped: &[&str]) -> url::Url {
        let mut url = self.url.clone();
        let kept: Vec<(String, String)> = self
            .url
            .query_pairs()
            .filter(|(k, _)| !dropped.contains(&k.as_ref()))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
        url
    }

    /// The URL mysql_async reads, and the password given as `?password=`: mysql_async refuses
    /// query parameters it does not know, so ours are taken out.
    fn for_mysql(&self) -> (String, Option<String>) {
        (
            self.without(&[&TLS_PARAMETERS[..], &NOT_FOR_MYSQL[..]].concat())
                .to_string(),
            self.query_value("password"),
        )
    }

    /// The tokio-postgres configuration: the URL without our TLS parameters (tokio-postgres
    /// knows only disable/prefer/require), with its TLS mode set from ours; the certificate
    /// checks are the rustls configuration's.
    pub fn postgres_config(&self) -> Result<tokio_postgres::Config, TargetError> {
        let url = self.without(&TLS_PARAMETERS);
        let mut config =
            tokio_postgres::Config::from_str(url.as_str()).map_err(|e| TargetError::BadUrl {
                url: self.to_string(),
                reason: redact(&e.to_string()),
            })?;
        config.ssl_mode(match self.tls().mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        });
        Ok(config)
    }

    /// The rustls configuration for this URL's TLS settings.
    pub(crate) fn tls_config(&self) -> Result<std::sync::Arc<rustls::ClientConfig>, TargetError> {
        self.tls()
            .client_config()
            .map_err(|detail| TargetError::Tls {
                url: self.to_string(),
                detail,
            })
    }
}

fn query_value(url: &url::Url, key: &str) -> Option<String> {
    url.query_pairs()
        .filter(|(k, _)| k == key)
        .last()
        .map(|(_, v)| v.into_owned())
}

fn tls_settings(url: &url::Url) -> Result<TlsSettings, String> {
    let mode = match query_value(url, "sslmode").or_else(|| query_value(url, "ssl-mode")) {
        None => SslMode::default(),
        Some(text) => SslMode::parse(&text).ok_or_else(|| {
            format!("sslmode '{text}' is not one of disable, prefer, require, verify-ca, verify-full (or MySQL's DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY)")
        })?,
    };
    let root = match query_value(url, "sslrootcert").or_else(|| query_value(url, "ssl-ca")) {
        None => None,
        Some(text) if text == "system" => Some(RootCerts::System),
        Some(text) if text.is_empty() => return Err("sslrootcert is empty".into()),
        Some(text) => Some(RootCerts::File(text.into())),
    };
    Ok(TlsSettings { mode, root })
}

fn parse_connect_timeout(text: &str) -> Result<u64, String> {
    match text.trim().parse::<i64>() {
        Ok(n) => Ok(n.max(0) as u64),
        Err(_) => Err(format!(
            "connect_timeout '{text}' is not a whole number of seconds"
        )),
    }
}

impl FromStr for TargetUrl {
    type Err = TargetError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| TargetError::BadUrl {
            url: redact(text),
            reason: reason.to_string(),
        };
        let url = url::Url::parse(text).map_err(|e| {
            bad(&format!(
                "{e}; expected postgres://user@host:port/db or mysql://user@host:port/db"
            ))
        })?;
        let family = match url.scheme() {
            "postgres" | "postgresql" => Engine::Postgres,
            "mysql" | "mariadb" => Engine::Mysql,
            other => {
                return Err(bad(&format!(
                    "unsupported scheme '{other}'; use postgres:// or mysql://"
                )))
            }
        };
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("no host"));
        }
        if let Some((_, t)) = url.query_pairs().find(|(k, _)| k == "connect_timeout") {
            parse_connect_timeout(&t).map_err(|reason| bad(&reason))?;
        }
        tls_settings(&url).map_err(|reason| bad(&reason))?;
        let mut url = url;
        if url.scheme() == "mariadb" {
            // mysql_async only knows mysql://.
            let rest = url.as_str().trim_start_matches("mariadb:").to_string();
            url = url::Url::parse(&format!("mysql:{rest}")).map_err(|e| bad(&e.to_string()))?;
        }
        Ok(TargetUrl { url, family })
    }
}

impl fmt::Display for TargetUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for TargetUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TargetUrl({})", self.redacted())
    }
}

/// An open connection to a target.
pub enum Target {
    Postgres {
        url: TargetUrl,
        client: tokio_postgres::Client,
        version: String,
    },
    Mysql {
        url: TargetUrl,
        conn: mysql_async::Conn,
        engine: Engine,
        version: String,
    },
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Target({} {} at {})",
            self.engine(),
            self.version(),
            self.url()
        )
    }
}

impl Target {
    /// Connect and detect the engine and version.
    pub async fn connect(url: &TargetUrl) -> Result<Target, TargetError> {
        match url.family() {
            Engine::Postgres => {
                let client = connect_postgres(url).await?;
                let row = client
                    .query_one("SHOW server_version", &[])
                    .await
                    .map_err(|e| classify_pg(url, e))?;
                let version: String = row.get(0);
                Ok(Target::Postgres {
                    url: url.clone(),
                    client,
                    version,
                })
            }
            Engine::Mysql | Engine::Mariadb => {
                use mysql_async::prelude::Queryable;
                let mut conn = connect_mysql(url).await?;
                let version: Option<String> = conn
                    .query_first("SELECT VERSION()")
                    .await
                    .map_err(|e| classify_mysql(url, e))?;
                let version = version.unwrap_or_default();
                let engine = if version.to_ascii_lowercase().contains("mariadb") {
                    Engine::Mariadb
                } else {
                    Engine::Mysql
                };
                Ok(Target::Mysql {
                    url: url.clone(),
                    conn,
                    engine,
                    version,
                })
            }
        }
    }

    pub fn engine(&self) -> Engine {
        match self {
            Target::Postgres { .. } => Engine::Postgres,
            Target::Mysql { engine, .. } => *engine,
        }
    }

    /// The server's version string as it reports it.
    pub fn version(&self) -> &str {
        match self {
            Target::Postgres { version, .. } | Target::Mysql { version, .. } => version,
        }
    }

    /// Major.minor as numbers, e.g. (15, 18) or (10, 11).
    pub fn version_number(&self) -> (u32, u32) {
        let mut parts = self
            .version()
            .split(|c: char| !c.is_ascii_digit())
            .filter(|p| !p.is_empty())
            .map(|p| p.parse().unwrap_or(0));
        (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
    }

    pub fn url(&self) -> &TargetUrl {
        match self {
            Target::Postgres { url, .. } | Target::Mysql { url, .. } => url,
        }
    }
}

/// Run a connection attempt within the URL's connect timeout: a server that accepts the TCP
/// connection and never answers must not hang the caller.
pub async fn within_connect_timeout<T>(
    url: &TargetUrl,
    connecting: impl std::future::Future<Output = Result<T, TargetError>>,
) -> Result<T, TargetError> {
    match url.connect_timeout() {
        None => connecting.await,
        Some(limit) => tokio::time::timeout(limit, connecting)
            .await
            .unwrap_or_else(|_| {
                Err(TargetError::Unreachable {
                    url: url.to_string(),
                    detail: format!(
                        "no answer within the connect timeout of {} s (set connect_timeout=N in the URL to wait longer)",
                        limit.as_secs()
                    ),
                })
            }),
    }
}

/// Open a PostgreSQL connection and drive it on a background task.
pub async fn connect_postgres(url: &TargetUrl) -> Result<tokio_postgres::Client, TargetError> {
    let config = url.postgres_config()?;
    let tls = if url.tls().mode == SslMode::Disable {
        None
    } else {
        Some(url.tls_config()?)
    };
    within_connect_timeout(url, async {
        match tls {
            None => {
                let (client, connection) = config
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(|e| classify_pg(url, e))?;
                drive(connection);
                Ok(client)
            }
            Some(tls) => {
                let (client, connection) = config
                    .connect(tokio_postgres_rustls::MakeRustlsConnect::new(
                        (*tls).clone(),
                    ))
                    .await
                    .map_err(|e| classify_pg(url, e))?;
                drive(connection);
                Ok(client)
            }
        }
    })
    .await
}

/// Run a tokio-postgres connection (plain or TLS) on a background task.
fn drive<S, T>(connection: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("postgres connection closed: {e}");
        }
    });
}

/// Open a MySQL/MariaDB connection.
pub async fn connect_mysql(url: &TargetUrl) -> Result<mysql_async::Conn, TargetError> {
    let (text, password) = url.for_mysql();
    let opts = mysql_async::Opts::from_url(&text).map_err(|e| TargetError::BadUrl {
        url: url.to_string(),
        reason: redact(&e.to_string()),
    })?;
    let plain = mysql_async::OptsBuilder::from_opts(opts);
    let plain = match password {
        Some(p) => plain.pass(Some(p)),
        None => plain,
    };
    let settings = url.tls();
    let tls = match settings.mode {
        SslMode::Disable => None,
        _ => Some(mysql_ssl_opts(url, &settings)?),
    };
    within_connect_timeout(url, async {
        let Some(ssl) = tls else {
            return mysql_async::Conn::new(plain)
                .await
                .map_err(|e| classify_mysql(url, e));
        };
        match mysql_async::Conn::new(plain.clone().ssl_opts(ssl)).await {
            // `prefer` against a server without TLS: as libpq does, go on in the clear.
            Err(mysql_async::Error::Driver(
                mysql_async::DriverError::NoClientSslFlagFromServer,
            )) if settings.mode == SslMode::Prefer => mysql_async::Conn::new(plain).await,
            other => other,
        }
        .map_err(|e| classify_mysql(url, e))
    })
    .await
}

/// mysql_async's TLS options for our settings: the same checks as for PostgreSQL.
fn mysql_ssl_opts(
    url: &TargetUrl,
    settings: &TlsSettings,
) -> Result<mysql_async::SslOpts, TargetError> {
    let tls_error = |detail: String| TargetError::Tls {
        url: url.to_string(),
        detail,
    };
    let opts = mysql_async::SslOpts::default()
        .with_danger_accept_invalid_certs(!settings.checks_chain())
        .with_danger_skip_domain_validation(!settings.checks_name());
    if !settings.checks_chain() {
        return Ok(opts);
    }
    let roots = match &settings.root {
        Some(RootCerts::File(path)) => {
            if !path.is_file() {
                return Err(tls_error(format!(
                    "sslrootcert {}: no such file",
                    path.display()
                )));
            }
            vec![path.clone().into()]
        }
        None | Some(RootCerts::System) => rustls_native_certs::load_native_certs()
            .certs
            .into_iter()
            .map(|der| der.to_vec().into())
            .collect(),
    };
    // Only the roots asked for: not the Mozilla set mysql_async carries.
    Ok(opts
        .with_root_certs(roots)
        .with_disable_built_in_roots(true))
}

/// A MySQL/MariaDB value as text, whatever the server sent: NULL is `None`, bytes that are not
/// UTF-8 are read lossily (a sampled BLOB or a latin1 digest must not stop a run).
pub fn mysql_text(value: mysql_async::Value) -> Option<String> {
    use mysql_async::Value;
    match value {
        Value::NULL => None,
        Value::Bytes(b) => Some(match String::from_utf8(b) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Double(d) => Some(d.to_string()),
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}

/// Each row's columns as [`mysql_text`].
pub fn mysql_text_rows(rows: Vec<mysql_async::Row>) -> Vec<Vec<Option<String>>> {
    rows.into_iter()
        .map(|r| r.unwrap().into_iter().map(mysql_text).collect())
        .collect()
}

pub(crate) fn classify_pg(url: &TargetUrl, e: tokio_postgres::Error) -> TargetError {
    let url = url.to_string();
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        // 28P01 invalid_password, 28000 invalid_authorization_specification
        if code == "28P01" || code == "28000" {
            return TargetError::Auth {
                url,
                detail: redact(db.message()),
            };
        }
        return TargetError::Other {
            url,
            detail: redact(&format!("{} ({code})", db.message())),
        };
    }
    let detail = redact(&error_chain(&e));
    if is_tls_failure(&detail) {
        return TargetError::Tls { url, detail };
    }
    if detail.contains("refused")
        || detail.contains("timed out")
        || detail.contains("No route")
        || detail.contains("failed to lookup")
    {
        TargetError::Unreachable { url, detail }
    } else if detail.contains("password missing") {
        TargetError::Auth { url, detail }
    } else {
        TargetError::Other { url, detail }
    }
}

pub(crate) fn classify_mysql(url: &TargetUrl, e: mysql_async::Error) -> TargetError {
    let url = url.to_string();
    match &e {
        // 1045 access denied, 1044 access denied to database, 1698 access denied (auth plugin)
        mysql_async::Error::Server(s) if matches!(s.code, 1045 | 1044 | 1698) => {
            TargetError::Auth {
                url,
                detail: redact(&s.message),
            }
        }
        mysql_async::Error::Io(_) | mysql_async::Error::Driver(_)
            if is_tls_failure(&error_chain(&e)) =>
        {
            TargetError::Tls {
                url,
                detail: redact(&error_chain(&e)),
            }
        }
        mysql_async::Error::Io(_) => TargetError::Unreachable {
            url,
            detail: redact(&error_chain(&e)),
        },
        _ => TargetError::Other {
            url,
            detail: redact(&error_chain(&e)),
        },
    }
}

/// A failure of the TLS layer (the handshake, a certificate, a server without TLS), as the
/// drivers word it.
fn is_tls_failure(detail: &str) -> bool {
    let lower = detail.to_ascii_lowercase();
    ["tls", "certificate", "ssl"]
        .iter()
        .any(|w| lower.contains(w))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_print() {
        let url: TargetUrl = "postgres://alice:s3cret@db.example:6543/app"
            .parse()
            .unwrap();
        assert_eq!(url.to_string(), "postgres://alice:***@db.example:6543/app");
        assert!(!format!("{url:?}").contains("s3cret"));
        assert_eq!(url.port(), 6543);
        assert_eq!(url.database(), Some("app"));
        let err = "postgres://alice:s3cret@".parse::<TargetUrl>().unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }

    #[test]
    fn scheme_gives_the_family_and_bad_urls_say_why() {
        assert_eq!(
            "mysql://root@h/x".parse::<TargetUrl>().unwrap().family(),
            Engine::Mysql
        );
        assert_eq!(
            "mariadb://root@h/x".parse::<TargetUrl>().unwrap().expose(),
            "mysql://root@h/x"
        );
        let err = "oracle://h/x".parse::<TargetUrl>().unwrap_err();
        assert!(
            err.to_string().contains("unsupported scheme 'oracle'"),
            "{err}"
        );
        assert!("not a url".parse::<TargetUrl>().unwrap_err().is_bad_input());
    }
}
