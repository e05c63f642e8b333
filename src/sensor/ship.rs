//! The shipper: takes batches off the [`Spool`], sends them to central and
//! advances the spool's acknowledged position only when central answers
//! that it committed them.
//!
//! A batch is NDJSON (one EVE event per line), compressed with zstd, sent as
//! `POST /api/v1/events` with `Content-Encoding: zstd` and
//! `X-Canhgac-Batch: FIRST-LAST` (the spool sequence numbers it carries).
//! Central stores the batch in one transaction and answers with `acked`:
//! `LAST`. Anything else — a refused connection, a timeout, a 5xx, a 503
//! with `Retry-After` from a saturated central — leaves the batch where it
//! is and it is sent again after a back-off with full jitter (so that fifteen
//! sensors coming back after an outage do not knock on the same second).
//! Resending is harmless: central drops events whose id it has.
//!
//! A 401 or 403 stops the shipper with [`SensorError::Unauthorized`]: the
//! credentials were revoked or expired, and the events stay in the spool
//! for when the sensor is enrolled again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rand::Rng;

use super::link::CredStore;
use super::spool::{Batch, Record, Spool};
use super::{SensorCounters, SensorError};

/// Batch limits and pacing.
#[derive(Debug, Clone)]
pub struct ShipSettings {
    pub url: String,
    pub max_events: usize,
    pub max_bytes: usize,
    pub max_wait: Duration,
    /// zstd level.
    pub level: i32,
    /// Longest back-off between tries.
    pub max_backoff: Duration,
}

/// What one attempt to send a batch came to.
enum Outcome {
    Acked,
    Retry(Option<Duration>),
    /// Central refused the batch's content: resending cannot help.
    Rejected(String),
    TooLarge,
}

/// Encodes records as an NDJSON body compressed with zstd.
///
/// # Errors
/// The compressor's error (out of memory).
pub fn encode_batch(records: &[Record], level: i32) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::with_capacity(records.iter().map(|r| r.payload.len() + 1).sum());
    for r in records {
        body.extend_from_slice(&r.payload);
        body.push(b'\n');
    }
    zstd::bulk::compress(&body, level)
}

/// Ships until the spool's input is closed and everything is acknowledged,
/// or until `stop` is set (after a short grace to send what is there).
///
/// # Errors
/// [`SensorError::Unauthorized`] when central refuses the credentials;
/// [`SensorError::Io`]-like errors of the spool.
pub async fn run(
    spool: Arc<Spool>,
    client: reqwest::Client,
    creds: Arc<CredStore>,
    settings: ShipSettings,
    counters: Arc<SensorCounters>,
    stop: Arc<AtomicBool>,
) -> Result<(), SensorError> {
    let mut max_events = settings.max_events.max(1);
    let mut backoff = Duration::from_millis(200);
    let mut stop_deadline: Option<tokio::time::Instant> = None;
    loop {
        if stop.load(Ordering::Relaxed) {
            let d = *stop_deadline
                .get_or_insert_with(|| tokio::time::Instant::now() + Duration::from_secs(5));
            if tokio::time::Instant::now() >= d {
                tracing::info!(
                    pending = spool.stats().pending,
                    "shipper stopped; unsent events stay in the spool"
                );
                return Ok(());
            }
        }
        let Batch {
            records: batch,
            through,
        } = collect(&spool, max_events, &settings).await?;
        if batch.is_empty() {
            // only checkpoints (or nothing) were read: nothing to send
            spool.ack(through).map_err(spool_err)?;
            if spool.drained() {
                return Ok(());
            }
            if spool.is_closed() {
                // nothing more will come and nothing is readable: never spin
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            continue;
        }
        let body = encode_batch(&batch, settings.level)
            .map_err(|e| SensorError::Http(format!("compressing a batch: {e}")))?;
        let (first, last) = (batch[0].seq, through);
        loop {
            match send(&client, &settings.url, &creds, &body, first, last).await? {
                Outcome::Acked => {
                    spool.ack(last).map_err(spool_err)?;
                    counters
                        .events_shipped
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    counters.batches_shipped.fetch_add(1, Ordering::Relaxed);
                    backoff = Duration::from_millis(200);
                    max_events = (max_events * 2).min(settings.max_events.max(1));
                    break;
                }
                Outcome::Rejected(reason) => {
                    counters.batches_rejected.fetch_add(1, Ordering::Relaxed);
                    counters
                        .dropped_events
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    tracing::error!(%reason, events = batch.len(), first, last,
                        "central rejected a batch; its events are dropped");
                    spool.ack(last).map_err(spool_err)?;
                    break;
                }
                Outcome::TooLarge if batch.len() > 1 => {
                    max_events = (batch.len() / 2).max(1);
                    tracing::warn!(
                        max_events,
                        "batch too large for central; sending smaller ones"
                    );
                    spool.rewind();
                    break;
                }
                Outcome::TooLarge => {
                    counters.batches_rejected.fetch_add(1, Ordering::Relaxed);
                    counters.dropped_events.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(
                        seq = first,
                        "one event is larger than central accepts; dropped"
                    );
                    spool.ack(last).map_err(spool_err)?;
                    break;
                }
                Outcome::Retry(after) => {
                    counters.ship_retries.fetch_add(1, Ordering::Relaxed);
                    let wait = match after {
                        // the server's word, spread a little
                        Some(d) => d + jitter(d / 4),
                        None => jitter(backoff),
                    };
                    backoff = (backoff * 2).min(settings.max_backoff);
                    if stop.load(Ordering::Relaxed) {
                        tracing::info!(
                            pending = spool.stats().pending,
                            "central unreachable while stopping; unsent events stay in the spool"
                        );
                        return Ok(());
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

fn spool_err(e: super::spool::SpoolError) -> SensorError {
    SensorError::Spool(e.to_string())
}

/// A random duration in `0..=max` (full jitter).
fn jitter(max: Duration) -> Duration {
    let ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::thread_rng().gen_range(0..=ms))
}

/// Reads a batch: what is there, waiting up to `max_wait` for it to fill.
async fn collect(spool: &Spool, max_events: usize, s: &ShipSettings) -> Result<Batch, SensorError> {
    let mut batch = spool.read(max_events, s.max_bytes).map_err(spool_err)?;
    let deadline = tokio::time::Instant::now() + s.max_wait;
    loop {
        let bytes: usize = batch.records.iter().map(|r| r.payload.len()).sum();
        if batch.records.len() >= max_events || bytes >= s.max_bytes || spool.is_closed() {
            return Ok(batch);
        }
        let woke = tokio::time::timeout_at(deadline, spool.appended.notified()).await;
        let more = spool
            .read(
                max_events - batch.records.len(),
                s.max_bytes.saturating_sub(bytes),
            )
            .map_err(spool_err)?;
        batch.records.extend(more.records);
        batch.through = batch.through.max(more.through);
        if woke.is_err() {
            return Ok(batch);
        }
    }
}

async fn send(
    client: &reqwest::Client,
    url: &str,
    creds: &CredStore,
    body: &[u8],
    first: u64,
    last: u64,
) -> Result<Outcome, SensorError> {
    let res = client
        .post(url)
        .header("authorization", creds.bearer())
        .header("content-type", "application/x-ndjson")
        .header("content-encoding", "zstd")
        .header("x-canhgac-batch", format!("{first}-{last}"))
        .body(body.to_vec())
        .send()
        .await;
    let r = match res {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "cannot reach central; will retry");
            return Ok(Outcome::Retry(None));
        }
    };
    let status = r.status();
    if status.is_success() {
        #[derive(serde::Deserialize)]
        struct Ack {
            acked: Option<u64>,
        }
        return match r.json::<Ack>().await {
            Ok(Ack { acked: Some(a) }) if a == last => Ok(Outcome::Acked),
            Ok(a) => {
                tracing::warn!(expected = last, got = ?a.acked, "central acknowledged another batch; resending");
                Ok(Outcome::Retry(None))
            }
            Err(e) => {
                tracing::warn!(error = %e, "unreadable acknowledgement; resending");
                Ok(Outcome::Retry(None))
            }
        };
    }
    let retry_after = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s.min(300)));
    let text = r.text().await.unwrap_or_default();
    match status.as_u16() {
        401 | 403 => Err(SensorError::Unauthorized(text)),
        413 => Ok(Outcome::TooLarge),
        429 | 503 => {
            tracing::info!(%status, retry_after = ?retry_after, "central busy; backing off");
            Ok(Outcome::Retry(retry_after))
        }
        400..=499 => Ok(Outcome::Rejected(format!("{status}: {text}"))),
        _ => {
            tracing::warn!(%status, body = %text, "central failed; will retry");
            Ok(Outcome::Retry(retry_after))
        }
    }
}
