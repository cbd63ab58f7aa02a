//! Ingestion admission control: what keeps an overloaded server answering 503 (which
//! remote-write senders retry) instead of running out of memory.
//!
//! Two limits apply to every ingestion request:
//! - **concurrency**: at most `max_concurrent_inserts` requests are processed at once;
//!   others wait up to `max_queue_duration` for a slot, then get 503;
//! - **in-flight bytes**: the request bodies being held (as sent, then decompressed)
//!   must fit in `max_inflight_bytes`, else the request gets 503 at once. A request is
//!   always admitted when nothing else is in flight, so one body larger than the budget
//!   (but within the body-size limits) still goes through on an idle server rather than
//!   being retried forever.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::api::response::ApiError;
use crate::config::IngestLimits;

/// Rejection reasons as counted in `tidemark_rejected_requests_total`.
pub const REASON_QUEUE_TIMEOUT: &str = "too_many_concurrent_inserts";
pub const REASON_INFLIGHT_BYTES: &str = "inflight_bytes_limit";
pub const REASON_SHUTTING_DOWN: &str = "shutting_down";

/// How much memory decoding takes per decompressed body byte, roughly: the decoded
/// label strings and samples plus allocator slack. An estimate: the guard is meant to
/// stop unbounded growth, not to account every byte.
const DECODE_EXPANSION: usize = 2;

/// Shared admission state for every ingestion protocol.
pub struct IngestAdmission {
    slots: Arc<Semaphore>,
    max_concurrent: usize,
    max_queue_duration: Duration,
    max_inflight_bytes: usize,
    inflight: Arc<Inflight>,
}

#[derive(Default)]
struct Inflight {
    bytes: AtomicUsize,
    /// Reservations held (each admitted request holds one, possibly of zero bytes).
    holders: AtomicUsize,
}

/// An admitted request: its concurrency slot and its reserved bytes, both released on drop.
pub struct Admission {
    _permit: OwnedSemaphorePermit,
    inflight: Arc<Inflight>,
    max_inflight_bytes: usize,
    reserved: usize,
}

impl IngestAdmission {
    pub fn new(limits: &IngestLimits) -> IngestAdmission {
        let max_concurrent = limits.max_concurrent_inserts.max(1);
        IngestAdmission {
            slots: Arc::new(Semaphore::new(max_concurrent)),
            max_concurrent,
            max_queue_duration: limits.max_queue_duration,
            max_inflight_bytes: limits.max_inflight_bytes.max(1),
            inflight: Arc::new(Inflight::default()),
        }
    }

    /// Waits (bounded) for a slot, then reserves `wire_bytes` (the body as sent, from
    /// `Content-Length`; 0 when unknown, the body reader enforces its own limit).
    pub async fn admit(&self, wire_bytes: usize) -> Result<Admission, ApiError> {
        let permit =
            match tokio::time::timeout(self.max_queue_duration, self.slots.clone().acquire_owned())
                .await
            {
                Ok(Ok(permit)) => permit,
                Ok(Err(_)) => {
                    return Err(ApiError::unavailable("server is shutting down")
                        .with_reason(REASON_SHUTTING_DOWN))
                }
                Err(_) => {
                    return Err(ApiError::unavailable(format!(
                        "ingestion overloaded: {} requests are being processed and no slot freed within {:?}; retry later (see --insert.max-concurrent)",
                        self.max_concurrent, self.max_queue_duration
                    ))
                    .with_reason(REASON_QUEUE_TIMEOUT))
                }
            };
        self.inflight.holders.fetch_add(1, Ordering::AcqRel);
        let mut admission = Admission {
            _permit: permit,
            inflight: self.inflight.clone(),
            max_inflight_bytes: self.max_inflight_bytes,
            reserved: 0,
        };
        admission.reserve(wire_bytes)?;
        Ok(admission)
    }

    /// Bytes reserved by requests in flight now.
    pub fn inflight_bytes(&self) -> usize {
        self.inflight.bytes.load(Ordering::Acquire)
    }

    /// Waits until no ingestion request holds a slot, at most `wait`; false on timeout.
    pub async fn drain(&self, wait: Duration) -> bool {
        let all = self.max_concurrent as u32;
        tokio::time::timeout(wait, self.slots.acquire_many(all))
            .await
            .is_ok()
    }
}

impl Admission {
    /// Reserves `decompressed_len` more bytes for the decompressed body and what decoding
    /// it allocates; 503 when that would exceed the in-flight budget.
    pub fn reserve_decoded(&mut self, decompressed_len: usize) -> Result<(), ApiError> {
        self.reserve(decompressed_len.saturating_mul(DECODE_EXPANSION))
    }

    fn reserve(&mut self, bytes: usize) -> Result<(), ApiError> {
        if bytes == 0 {
            return Ok(());
        }
        let inflight = &self.inflight;
        let result = inflight
            .bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |current| {
                let others = current - self.reserved;
                let alone = others == 0 && inflight.holders.load(Ordering::Acquire) == 1;
                let wanted = current.saturating_add(bytes);
                (alone || wanted <= self.max_inflight_bytes).then_some(wanted)
            });
        match result {
            Ok(_) => {
                self.reserved += bytes;
                Ok(())
            }
            Err(current) => Err(ApiError::unavailable(format!(
                "ingestion overloaded: {current} bytes of request data are in flight and {bytes} more would exceed the limit of {} bytes; retry later (see --insert.max-inflight-bytes)",
                self.max_inflight_bytes
            ))
            .with_reason(REASON_INFLIGHT_BYTES)),
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.inflight
            .bytes
            .fetch_sub(self.reserved, Ordering::AcqRel);
        self.inflight.holders.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(concurrent: usize, bytes: usize) -> IngestLimits {
        IngestLimits {
            max_request_body_bytes: 1 << 20,
            max_decompressed_body_bytes: 1 << 20,
            max_concurrent_inserts: concurrent,
            max_queue_duration: Duration::from_millis(20),
            max_inflight_bytes: bytes,
        }
    }

    #[tokio::test]
    async fn concurrency_wait_is_bounded() {
        let adm = IngestAdmission::new(&limits(1, 1000));
        let held = adm.admit(10).await.unwrap();
        let err = adm.admit(10).await.err().unwrap();
        assert_eq!(err.status.as_u16(), 503);
        assert_eq!(err.reason(), REASON_QUEUE_TIMEOUT);
        drop(held);
        adm.admit(10).await.unwrap();
    }

    #[tokio::test]
    async fn inflight_bytes_are_bounded_and_released() {
        let adm = IngestAdmission::new(&limits(4, 1000));
        let mut a = adm.admit(600).await.unwrap();
        let err = adm.admit(600).await.err().unwrap();
        assert_eq!(err.reason(), REASON_INFLIGHT_BYTES);
        assert_eq!(
            adm.inflight_bytes(),
            600,
            "a refused request reserves nothing"
        );
        let b = adm.admit(300).await.unwrap();
        assert!(a.reserve_decoded(100).is_err(), "600 + 300 + 2*100 > 1000");
        drop(b);
        a.reserve_decoded(100).unwrap();
        assert_eq!(adm.inflight_bytes(), 800);
        drop(a);
        assert_eq!(adm.inflight_bytes(), 0);
    }

    #[tokio::test]
    async fn a_lone_request_may_exceed_the_budget() {
        let adm = IngestAdmission::new(&limits(4, 1000));
        let mut a = adm.admit(5000).await.unwrap();
        a.reserve_decoded(5000).unwrap();
        assert!(adm.admit(1).await.is_err(), "but nothing joins it");
        drop(a);
        assert_eq!(adm.inflight_bytes(), 0);
    }

    #[tokio::test]
    async fn drain_waits_for_running_requests() {
        let adm = IngestAdmission::new(&limits(2, 1000));
        let held = adm.admit(1).await.unwrap();
        assert!(!adm.drain(Duration::from_millis(10)).await);
        drop(held);
        assert!(adm.drain(Duration::from_millis(10)).await);
    }
}
