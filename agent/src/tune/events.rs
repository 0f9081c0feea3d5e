//! What a session reports while it runs. The session sends events; the caller decides what a
//! person sees (a progress bar, log lines, nothing).

use std::sync::Arc;

/// One thing that happened in a session.
#[derive(Debug, Clone, PartialEq)]
pub enum TuneEvent {
    /// A phase began ("loading tpcb, scale 10", "gate round 2 of 3" …).
    Phase(String),
    /// A line worth keeping on screen.
    Note(String),
    /// A trial finished (or failed, or was refused).
    Trial {
        id: usize,
        label: String,
        /// The objective's score with its per-second spread, when measured.
        score: Option<(f64, f64)>,
        summary: String,
        /// Best score so far with its spread.
        best: Option<(f64, f64)>,
    },
}

/// Where a session sends its events.
#[derive(Clone)]
pub struct Events(Arc<dyn Fn(TuneEvent) + Send + Sync>);

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Events")
    }
}

impl Events {
    pub fn new(sink: impl Fn(TuneEvent) + Send + Sync + 'static) -> Events {
        Events(Arc::new(sink))
    }

    /// Events that go nowhere (tests, JSON-only runs log through `tracing` instead).
    pub fn none() -> Events {
        Events::new(|event| tracing::debug!(?event, "tune"))
    }

    pub fn send(&self, event: TuneEvent) {
        (self.0)(event)
    }

    pub fn phase(&self, text: impl Into<String>) {
        self.send(TuneEvent::Phase(text.into()))
    }

    pub fn note(&self, text: impl Into<String>) {
        self.send(TuneEvent::Note(text.into()))
    }
}
