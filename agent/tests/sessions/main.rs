//! Whole tuning sessions, in one test binary so that their minutes overlap (each is bounded
//! by its own time budget, and neither asserts the size of a gain): the demo preset, and
//! `tune --target` on named servers (PostgreSQL with restarts, MariaDB online only).

#[path = "../common/mod.rs"]
mod common;
mod demo;
mod tune_target;
