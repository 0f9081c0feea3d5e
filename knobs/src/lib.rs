//! Knowledge of database configuration knobs: what each knob is, its type, unit, bounds,
//! how a change takes effect and whether it can cost durability; configurations and their
//! diffs; and the normalized search space an optimizer works in.
//!
//! This crate is pure: it never talks to a database. Live discovery and applying changes live in
//! the `agent` crate; measuring lives in `workloads`.
//!
//! ```
//! use knobs::{catalog, Engine, Space, SpaceOptions};
//! let cat = catalog::for_engine(Engine::Postgres).unwrap();
//! let space = Space::new(&cat, &SpaceOptions::default()).unwrap();
//! let config = space.decode(&vec![0.5; space.dims()]).unwrap();
//! assert!(config.get("shared_buffers").is_some());
//! ```

pub mod catalog;
mod config;
mod engine;
mod error;
pub mod heuristic;
mod knob;
mod memory;
pub mod render;
mod space;
mod value;
mod version;

pub use config::{Config, ConfigDiff, KnobChange};
pub use engine::Engine;
pub use error::{KnobError, Result};
pub use knob::{ApplyMode, Durability, Knob, KnobKind, Range, Scale, Unit};
pub use memory::{Hardware, MemoryEstimate};
pub use space::{Space, SpaceOptions};
pub use value::{parse_bytes, Value};
pub use version::Version;
