//! Everything that talks to a database as a client: connections to a target, throwaway
//! sandbox servers, built-in benchmarks with their loaders, and the benchmark driver that
//! turns a workload into a [`Measurement`].
//!
//! Administration (applying knobs, restarts on a real target) is the `agent`'s job; this crate
//! only starts and stops servers it owns (sandboxes).

pub mod analysis;
pub mod builtin;
pub mod capture;
pub mod driver;
mod error;
mod load;
pub mod redact;
pub mod replay;
pub mod sandbox;
pub mod spec;
pub mod statements;
pub mod target;
pub mod tls;
pub mod tpcb;
pub mod wire;

pub use driver::{DriverOptions, Measurement};
pub use error::{Result, WorkloadError};
pub use sandbox::{Sandbox, SandboxError};
pub use target::{Target, TargetError, TargetUrl};
