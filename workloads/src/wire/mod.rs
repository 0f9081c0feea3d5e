//! Lean clients for the benchmark hot path (see each engine's module for why).

pub mod pg;
