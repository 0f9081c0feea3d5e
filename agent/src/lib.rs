//! The dbtuner agent: applying configurations to staging and targets, the tuning loop, and the
//! command-line interface. The `dbtuner` binary is a thin shell over [`cli::main`].

pub mod advise;
pub mod apply;
pub mod bench;
pub mod cli;
pub mod discovery;
mod error;
pub mod gate;
pub mod hardware;
pub mod privileges;
pub mod report;
pub mod repository;
pub mod staging;
pub mod telemetry;
pub mod tune;

pub use error::BadInput;
