//! Errors while loading or running a workload.

use thiserror::Error;

pub type Result<T, E = WorkloadError> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum WorkloadError {
    #[error(transparent)]
    Target(#[from] crate::TargetError),
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("mysql: {0}")]
    Mysql(#[from] mysql_async::Error),
    /// An error the server sent to one of the lean benchmark clients.
    #[error("postgres: {message} (SQLSTATE {code})")]
    PgServer { code: String, message: String },
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("workload file {file}: {field}: {reason}")]
    Spec {
        file: String,
        field: String,
        reason: String,
    },
    #[error("workload '{name}': {reason}")]
    Invalid { name: String, reason: String },
    /// Instrumentation the target lacks, with how to enable it.
    #[error("{0}")]
    Unavailable(String),
    #[error("benchmark run failed: {0}")]
    Run(String),
}

impl WorkloadError {
    /// Input the user must fix (a workload file, a name, a scale).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            WorkloadError::Spec { .. } | WorkloadError::Invalid { .. }
        ) || matches!(self, WorkloadError::Target(t) if t.is_bad_input())
    }

    /// Errors a benchmark retries rather than counts as a failure of the run (deadlocks,
    /// serialization failures).
    pub fn is_retryable(&self) -> bool {
        match self {
            WorkloadError::Postgres(e) => e
                .code()
                .is_some_and(|c| c.code() == "40001" || c.code() == "40P01"),
            WorkloadError::PgServer { code, .. } => code == "40001" || code == "40P01",
            WorkloadError::Mysql(mysql_async::Error::Server(e)) => e.code == 1213 || e.code == 1205,
            _ => false,
        }
    }

    /// The server cancelled the statement at the workload's statement timeout (PostgreSQL
    /// `statement_timeout`: 57014; MariaDB `max_statement_time`: 1969; MySQL
    /// `max_execution_time`: 3024).
    pub fn is_timeout(&self) -> bool {
        match self {
            WorkloadError::Postgres(e) => e.code().is_some_and(|c| c.code() == "57014"),
            WorkloadError::PgServer { code, .. } => code == "57014",
            WorkloadError::Mysql(mysql_async::Error::Server(e)) => e.code == 1969 || e.code == 3024,
            _ => false,
        }
    }

    /// A short, bounded label for counting errors by kind.
    pub fn kind(&self) -> String {
        match self {
            WorkloadError::Postgres(e) => e
                .code()
                .map(|c| format!("sqlstate {}", c.code()))
                .unwrap_or_else(|| "connection".into()),
            WorkloadError::Mysql(mysql_async::Error::Server(e)) => {
                format!("mysql error {}", e.code)
            }
            WorkloadError::PgServer { code, .. } => format!("sqlstate {code}"),
            WorkloadError::Mysql(_) | WorkloadError::Io(_) => "connection".into(),
            WorkloadError::Target(_) => "connect".into(),
            WorkloadError::Invalid { .. } | WorkloadError::Spec { .. } => "invalid".into(),
            WorkloadError::Run(_) => "run".into(),
            WorkloadError::Unavailable(_) => "unavailable".into(),
        }
    }
}
