//! A lean PostgreSQL client for the benchmark hot path.
//!
//! `tokio-postgres` runs each connection as a separate task fed through channels, which costs
//! two task hand-offs per statement; on a small machine where client and server share the
//! cores that client CPU is throughput the server does not get (measured: 0.8x pgbench). This
//! client owns its socket and speaks the extended protocol from the calling task, the way
//! libpq does for pgbench: one write (Bind, Execute, Sync) and one read per statement. Message
//! encoding, parsing and SCRAM come from `postgres-protocol`; this file is only the loop.

use std::io;

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256, SCRAM_SHA_256};
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tokio_postgres::config::Host;
use tokio_postgres::types::{ToSql, Type};

use crate::tls::SslMode;
use crate::{Result, TargetError, TargetUrl, WorkloadError};

enum Stream {
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    Unix(UnixStream),
}

impl Stream {
    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.write_all(bytes).await,
            Stream::Tls(s) => {
                s.write_all(bytes).await?;
                // rustls buffers records: what is written must reach the server now.
                s.flush().await
            }
            Stream::Unix(s) => s.write_all(bytes).await,
        }
    }

    async fn read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read_buf(buf).await,
            Stream::Tls(s) => s.read_buf(buf).await,
            Stream::Unix(s) => s.read_buf(buf).await,
        }
    }
}

/// The protocol's SSLRequest code (1234 << 16 | 5679).
const SSL_REQUEST: i32 = 80_877_103;

/// Ask a PostgreSQL server for TLS on a fresh TCP connection and, if it agrees, do the
/// handshake. `Ok(None)` means the server said no and the caller may go on in the clear.
async fn negotiate_tls(
    mut tcp: TcpStream,
    host: &str,
    url: &TargetUrl,
) -> std::result::Result<std::result::Result<Stream, TcpStream>, TargetError> {
    let tls_error = |detail: String| TargetError::Tls {
        url: url.to_string(),
        detail,
    };
    let mut request = [0u8; 8];
    request[..4].copy_from_slice(&8i32.to_be_bytes());
    request[4..].copy_from_slice(&SSL_REQUEST.to_be_bytes());
    tcp.write_all(&request)
        .await
        .map_err(|e| tls_error(format!("sending SSLRequest: {e}")))?;
    let mut answer = [0u8; 1];
    tcp.read_exact(&mut answer)
        .await
        .map_err(|e| tls_error(format!("reading the answer to SSLRequest: {e}")))?;
    match answer[0] {
        b'S' => {}
        b'N' => return Ok(Err(tcp)),
        other => {
            return Err(tls_error(format!(
                "the server answered SSLRequest with byte {other:#04x}, not S or N"
            )))
        }
    }
    let config = url.tls_config()?;
    let name = crate::tls::TlsSettings::server_name(host).map_err(tls_error)?;
    let stream = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| tls_error(format!("handshake: {e}")))?;
    Ok(Ok(Stream::Tls(Box::new(stream))))
}

/// A statement prepared on one connection, with the parameter types the server inferred.
#[derive(Debug, Clone)]
pub struct PgStatement {
    name: String,
    params: Vec<Type>,
}

impl PgStatement {
    pub fn params(&self) -> &[Type] {
        &self.params
    }
}

/// An error the server sent (`ErrorResponse`).
#[derive(Debug, Clone, Default)]
struct ServerError {
    code: String,
    message: String,
}

impl ServerError {
    fn parse(body: &postgres_protocol::message::backend::ErrorResponseBody) -> ServerError {
        let mut error = ServerError::default();
        let mut fields = body.fields();
        while let Ok(Some(field)) = fields.next() {
            let value = String::from_utf8_lossy(field.value_bytes()).into_owned();
            match field.type_() {
                b'C' => error.code = value,
                b'M' => error.message = value,
                _ => {}
            }
        }
        error
    }

    fn into_workload(self) -> WorkloadError {
        WorkloadError::PgServer {
            code: self.code,
            message: self.message,
        }
    }
}

/// One connection.
pub struct PgWire {
    stream: Stream,
    read: BytesMut,
    write: BytesMut,
    next_statement: usize,
}

impl std::fmt::Debug for PgWire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgWire")
    }
}

fn protocol_error(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("unexpected message from the server {what}"),
    )
}

impl PgWire {
    /// Connect and authenticate (trust, password, MD5 or SCRAM-SHA-256; TLS as the URL's `sslmode` says), within the
    /// URL's connect timeout.
    pub async fn connect(url: &TargetUrl) -> std::result::Result<PgWire, TargetError> {
        crate::target::within_connect_timeout(url, PgWire::connect_now(url)).await
    }

    async fn connect_now(url: &TargetUrl) -> std::result::Result<PgWire, TargetError> {
        let unreachable = |detail: String| TargetError::Unreachable {
            url: url.to_string(),
            detail,
        };
        let config = url.postgres_config()?;
        let mode = url.tls().mode;
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let stream = match config.get_hosts().first() {
            Some(Host::Unix(dir)) => {
                let path = dir.join(format!(".s.PGSQL.{port}"));
                Stream::Unix(
                    UnixStream::connect(&path)
                        .await
                        .map_err(|e| unreachable(format!("{}: {e}", path.display())))?,
                )
            }
            tcp => {
                let host = match tcp {
                    Some(Host::Tcp(host)) => host.as_str(),
                    _ => "localhost",
                };
                let s = TcpStream::connect((host, port))
                    .await
                    .map_err(|e| unreachable(e.to_string()))?;
                s.set_nodelay(true)
                    .map_err(|e| unreachable(e.to_string()))?;
                if mode == SslMode::Disable {
                    Stream::Tcp(s)
                } else {
                    match negotiate_tls(s, host, url).await? {
                        Ok(tls) => tls,
                        Err(_) if mode.requires_tls() => {
                            return Err(TargetError::Tls {
                                url: url.to_string(),
                                detail: format!(
                                    "the server does not offer TLS and sslmode={} needs it",
                                    mode.as_str()
                                ),
                            })
                        }
                        Err(plain) => Stream::Tcp(plain),
                    }
                }
            }
        };
        let user = config
            .get_user()
            .map(str::to_string)
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "postgres".into());
        let database = config.get_dbname().unwrap_or(&user).to_string();
        let mut wire = PgWire {
            stream,
            read: BytesMut::with_capacity(8192),
            write: BytesMut::with_capacity(1024),
            next_statement: 0,
        };
        wire.startup(&user, &database, config.get_password().unwrap_or(&[]))
            .await
            .map_err(|e| match e {
                WorkloadError::PgServer { code, message } if code == "28P01" || code == "28000" => {
                    TargetError::Auth {
                        url: url.to_string(),
                        detail: message,
                    }
                }
                WorkloadError::Io(e) => unreachable(e.to_string()),
                other => TargetError::Other {
                    url: url.to_string(),
                    detail: other.to_string(),
                },
            })?;
        Ok(wire)
    }

    async fn startup(&mut self, user: &str, database: &str, password: &[u8]) -> Result<()> {
        frontend::startup_message(
            [
                ("user", user),
                ("database", database),
                ("client_encoding", "UTF8"),
                ("application_name", "dbtuner"),
            ],
            &mut self.write,
        )?;
        self.flush().await?;
        let mut scram: Option<ScramSha256> = None;
        loop {
            match self.next_message().await? {
                Message::AuthenticationOk => {}
                Message::AuthenticationCleartextPassword => {
                    frontend::password_message(password, &mut self.write)?;
                    self.flush().await?;
                }
                Message::AuthenticationMd5Password(body) => {
                    let hash =
                        postgres_protocol::authentication::md5_hash(user.as_bytes(), password, body.salt());
                    frontend::password_message(hash.as_bytes(), &mut self.write)?;
                    self.flush().await?;
                }
                Message::AuthenticationSasl(body) => {
                    let mut mechanisms = body.mechanisms();
                    let mut offered = false;
                    while let Some(m) = mechanisms.next()? {
                        offered |= m == SCRAM_SHA_256;
                    }
                    if !offered {
                        return Err(WorkloadError::Run(
                            "the server offers no SASL mechanism this client supports".into(),
                        ));
                    }
                    let s = ScramSha256::new(password, ChannelBinding::unsupported());
                    frontend::sasl_initial_response(SCRAM_SHA_256, s.message(), &mut self.write)?;
                    self.flush().await?;
                    scram = Some(s);
                }
                Message::AuthenticationSaslContinue(body) => {
                    let s = scram.as_mut().ok_or_else(|| protocol_error("(SASL continue)"))?;
                    s.update(body.data())?;
                    frontend::sasl_response(s.message(), &mut self.write)?;
                    self.flush().await?;
                }
                Message::AuthenticationSaslFinal(body) => {
                    let s = scram.as_mut().ok_or_else(|| protocol_error("(SASL final)"))?;
                    s.finish(body.data())?;
                }
                Message::ErrorResponse(body) => {
                    return Err(ServerError::parse(&body).into_workload())
                }
                Message::ReadyForQuery(_) => return Ok(()),
                Message::ParameterStatus(_)
                | Message::BackendKeyData(_)
                | Message::NoticeResponse(_) => {}
                _ => {
                    return Err(WorkloadError::Run(
                        "the server asked for an authentication method this client does not support (use trust, password, md5 or scram-sha-256)".into(),
                    ))
                }
            }
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        let result = self.stream.write_all(&self.write).await;
        self.write.clear();
        result
    }

    async fn next_message(&mut self) -> io::Result<Message> {
        loop {
            if let Some(message) = Message::parse(&mut self.read)? {
                return Ok(message);
            }
            if self.stream.read_buf(&mut self.read).await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                ));
            }
        }
    }

    /// Read to the end of the current request; the first server error wins. Rows are decoded
    /// to text only up to `keep` of them (none on the benchmark hot path).
    async fn finish(&mut self, keep: usize) -> Result<(u64, Vec<Vec<Option<String>>>)> {
        let mut error: Option<ServerError> = None;
        let mut rows = 0u64;
        let mut values = Vec::new();
        loop {
            match self.next_message().await? {
                Message::ReadyForQuery(_) => break,
                Message::DataRow(body) => {
                    rows += 1;
                    if values.len() < keep {
                        let buffer = body.buffer();
                        let mut row = Vec::new();
                        let mut ranges = body.ranges();
                        while let Some(range) = ranges.next()? {
                            row.push(
                                range.map(|r| String::from_utf8_lossy(&buffer[r]).into_owned()),
                            );
                        }
                        values.push(row);
                    }
                }
                Message::ErrorResponse(body) if error.is_none() => {
                    error = Some(ServerError::parse(&body));
                }
                _ => {}
            }
        }
        match error {
            Some(e) => Err(e.into_workload()),
            None => Ok((rows, values)),
        }
    }

    /// Prepare a named statement; the server infers the parameter types.
    pub async fn prepare(&mut self, sql: &str) -> Result<PgStatement> {
        self.next_statement += 1;
        let name = format!("dbtuner_{}", self.next_statement);
        frontend::parse(&name, sql, std::iter::empty(), &mut self.write)?;
        frontend::describe(b'S', &name, &mut self.write)?;
        frontend::sync(&mut self.write);
        self.flush().await?;
        let mut params = Vec::new();
        let mut error: Option<ServerError> = None;
        loop {
            match self.next_message().await? {
                Message::ReadyForQuery(_) => break,
                Message::ParameterDescription(body) => {
                    let mut oids = body.parameters();
                    while let Some(oid) = oids.next()? {
                        params.push(oid);
                    }
                }
                Message::ErrorResponse(body) if error.is_none() => {
                    error = Some(ServerError::parse(&body));
                }
                _ => {}
            }
        }
        if let Some(e) = error {
            return Err(e.into_workload());
        }
        let mut types = Vec::with_capacity(params.len());
        for oid in params {
            let ty = match Type::from_oid(oid) {
                Some(t) => t,
                None => {
                    let (_, rows) = self
                        .simple(&format!("SELECT format_type({oid}, NULL)"))
                        .await?;
                    let name = rows
                        .first()
                        .and_then(|r| r.first().cloned().flatten())
                        .unwrap_or_else(|| "text".into());
                    Type::new(
                        name,
                        oid,
                        tokio_postgres::types::Kind::Simple,
                        "public".into(),
                    )
                }
            };
            types.push(ty);
        }
        Ok(PgStatement {
            name,
            params: types,
        })
    }

    /// Run a prepared statement with binary parameters; returns the number of rows it
    /// returned.
    pub async fn execute(
        &mut self,
        statement: &PgStatement,
        args: &[&(dyn ToSql + Sync)],
    ) -> Result<u64> {
        self.send_execute(statement, args).await?;
        Ok(self.finish(0).await?.0)
    }

    /// Run a prepared statement and keep its first row, as text (a binding reads it).
    pub async fn execute_first(
        &mut self,
        statement: &PgStatement,
        args: &[&(dyn ToSql + Sync)],
    ) -> Result<(u64, Option<Vec<Option<String>>>)> {
        self.send_execute(statement, args).await?;
        let (rows, values) = self.finish(1).await?;
        Ok((rows, values.into_iter().next()))
    }

    async fn send_execute(
        &mut self,
        statement: &PgStatement,
        args: &[&(dyn ToSql + Sync)],
    ) -> Result<()> {
        let mut types = statement.params.iter();
        let bound = frontend::bind(
            "",
            &statement.name,
            std::iter::repeat_n(1i16, args.len()),
            args.iter(),
            |arg, buf| match types.next() {
                Some(ty) => match arg.to_sql_checked(ty, buf)? {
                    tokio_postgres::types::IsNull::Yes => Ok(postgres_protocol::IsNull::Yes),
                    tokio_postgres::types::IsNull::No => Ok(postgres_protocol::IsNull::No),
                },
                None => Err("more arguments than parameters".into()),
            },
            std::iter::empty(),
            &mut self.write,
        );
        if let Err(e) = bound {
            self.write.clear();
            return Err(WorkloadError::Run(match e {
                frontend::BindError::Conversion(e) => format!("binding a parameter: {e}"),
                frontend::BindError::Serialization(e) => format!("binding a parameter: {e}"),
            }));
        }
        frontend::execute("", 0, &mut self.write)?;
        frontend::sync(&mut self.write);
        self.flush().await?;
        Ok(())
    }

    /// Run SQL with the simple protocol (BEGIN, COMMIT, one-off queries); returns the rows as
    /// text (at most 10,000 kept).
    pub async fn simple(&mut self, sql: &str) -> Result<(u64, Vec<Vec<Option<String>>>)> {
        frontend::query(sql, &mut self.write)?;
        self.flush().await?;
        self.finish(10_000).await
    }
}

impl Drop for PgWire {
    fn drop(&mut self) {
        // Best effort: tell the server we are leaving so it does not log an EOF.
        let mut buf = BytesMut::new();
        frontend::terminate(&mut buf);
        let _ = match &self.stream {
            Stream::Tcp(s) => s.try_write(&buf),
            Stream::Unix(s) => s.try_write(&buf),
            // A record cannot be written from a synchronous drop; the server sees the close.
            Stream::Tls(_) => Ok(0),
        };
    }
}
