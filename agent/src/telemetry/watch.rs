//! The scrape loop: a snapshot every interval until shutdown, with at most one scrape in
//! flight. A tick that comes while the previous scrape is still running is skipped (and
//! counted), never queued: a slow server must not get a pile of telemetry queries.

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::{Collector, Snapshot};

/// What the loop reports, in order.
#[derive(Debug, Clone)]
pub enum WatchEvent {
    Snapshot(Box<Snapshot>),
    /// A scrape failed (the server is unreachable, say); the loop goes on.
    Failed(String),
    /// A tick came while a scrape was still running; this interval has no snapshot.
    Skipped,
}

/// Counts over a whole watch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchSummary {
    pub scrapes: u64,
    pub failed: u64,
    pub skipped: u64,
    /// Events the consumer was too slow to take (the loop never waits for it).
    pub dropped: u64,
}

type Scrape = JoinHandle<(Collector, super::Result<Snapshot>)>;

/// Scrape every `interval` until `shutdown` completes, sending events to `events`.
pub async fn watch(
    collector: Collector,
    interval: Duration,
    shutdown: impl Future<Output = ()>,
    events: mpsc::Sender<WatchEvent>,
) -> WatchSummary {
    let mut summary = WatchSummary::default();
    let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(10)));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut idle: Option<Collector> = Some(collector);
    let mut in_flight: Option<Scrape> = None;
    tokio::pin!(shutdown);
    let send = |summary: &mut WatchSummary, event: WatchEvent| {
        if events.try_send(event).is_err() {
            summary.dropped += 1;
        }
    };
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            done = finished(&mut in_flight) => {
                in_flight = None;
                match done {
                    Ok((collector, result)) => {
                        idle = Some(collector);
                        match result {
                            Ok(snap) => {
                                summary.scrapes += 1;
                                send(&mut summary, WatchEvent::Snapshot(Box::new(snap)));
                            }
                            Err(e) => {
                                summary.failed += 1;
                                send(&mut summary, WatchEvent::Failed(e.to_string()));
                            }
                        }
                    }
                    Err(e) => {
                        // The scrape task panicked and took the collector with it.
                        summary.failed += 1;
                        send(&mut summary, WatchEvent::Failed(format!("scrape task failed: {e}")));
                        break;
                    }
                }
            }
            _ = ticker.tick() => {
                match idle.take() {
                    Some(mut collector) => {
                        in_flight = Some(tokio::spawn(async move {
                            let result = collector.collect().await;
                            (collector, result)
                        }));
                    }
                    None => {
                        summary.skipped += 1;
                        tracing::info!("previous telemetry scrape still running; skipping this one");
                        send(&mut summary, WatchEvent::Skipped);
                    }
                }
            }
        }
    }
    if let Some(handle) = in_flight {
        handle.abort();
    }
    summary
}

/// Resolves when the scrape in flight finishes; never, when there is none.
async fn finished(
    in_flight: &mut Option<Scrape>,
) -> Result<(Collector, super::Result<Snapshot>), tokio::task::JoinError> {
    match in_flight {
        Some(handle) => handle.await,
        None => std::future::pending().await,
    }
}
