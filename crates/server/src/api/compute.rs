//! Where PromQL evaluations run: on rayon's pool, the one the engine's own parallel
//! loops use.
//!
//! A `par_iter` started on a thread outside the pool (such as tokio's blocking pool)
//! must inject its work into the pool and sleep until a worker has finished it: two
//! thread wake-ups per parallel section, several per range query. Started on a pool
//! worker it runs in place. For dashboard queries that evaluate in a fraction of a
//! millisecond those wake-ups were most of the server-side time.
//!
//! Queries known to be cheap skip even the hand-off to the pool and run on the
//! request's own thread ([`Placement::Inline`]): waking a pool worker and then waking
//! the request's thread with the answer costs two thread wake-ups, a real share of a
//! query that evaluates in 100 µs. Only cheap queries may do so, as an async worker
//! serves no other request while it evaluates.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use tokio::sync::oneshot;

/// Where an evaluation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placement {
    /// On rayon's pool, while the calling task waits without holding its thread.
    Pool,
    /// On the calling thread, at once. For work known to take well under
    /// [`INLINE_BUDGET`].
    Inline,
}

/// Work that last took at most this long runs inline. An async worker blocked this
/// long delays the other requests it serves by as much, which is small next to a
/// network round trip; a longer evaluation gains little from saving two wake-ups.
pub(crate) const INLINE_BUDGET: std::time::Duration = std::time::Duration::from_millis(1);

impl Placement {
    /// The `placement` label of `tidemark_query_evaluations_total`.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Placement::Pool => "pool",
            Placement::Inline => "inline",
        }
    }

    /// Inline when the same work last took at most [`INLINE_BUDGET`]; on the pool
    /// when it took longer or has not run yet.
    pub(crate) fn from_last_cost(last: Option<std::time::Duration>) -> Placement {
        match last {
            Some(took) if took <= INLINE_BUDGET => Placement::Inline,
            _ => Placement::Pool,
        }
    }
}

/// Runs `job` where `placement` says and waits for its result. A panic in `job` is
/// caught and returned as `Err` with its message; it neither aborts the process
/// (rayon's default for a panicking spawned job) nor kills a pool thread.
///
/// Dropping the returned future does not stop `job`: callers cancel through the
/// engine's `QueryContext`, which the evaluation checks as it runs.
pub(crate) async fn evaluate<T, F>(placement: Placement, job: F) -> Result<T, String>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    if placement == Placement::Inline {
        return catch_unwind(AssertUnwindSafe(job)).map_err(panic_message);
    }
    let (tx, rx) = oneshot::channel();
    rayon::spawn(move || {
        let outcome = catch_unwind(AssertUnwindSafe(job)).map_err(panic_message);
        // Fails only when the request is gone (client disconnect or timeout): nobody
        // is left to read the result.
        let _ = tx.send(outcome);
    });
    rx.await
        .map_err(|_| "evaluation ended without a result".to_string())?
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown cause".to_string());
    format!("evaluation panicked: {text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_the_result_from_a_pool_thread() {
        let on_pool = evaluate(Placement::Pool, || rayon::current_thread_index().is_some())
            .await
            .unwrap();
        assert!(on_pool, "the job did not run on a rayon worker");
    }

    #[tokio::test]
    async fn inline_work_runs_on_the_calling_thread() {
        let caller = std::thread::current().id();
        let ran_on = evaluate(Placement::Inline, || std::thread::current().id())
            .await
            .unwrap();
        assert_eq!(ran_on, caller);
        let err = evaluate(Placement::Inline, || -> u32 { panic!("inline boom") })
            .await
            .unwrap_err();
        assert!(err.contains("inline boom"), "{err}");
    }

    #[test]
    fn only_work_known_to_be_cheap_runs_inline() {
        use std::time::Duration;
        assert_eq!(Placement::from_last_cost(None), Placement::Pool);
        assert_eq!(
            Placement::from_last_cost(Some(Duration::from_micros(90))),
            Placement::Inline
        );
        assert_eq!(
            Placement::from_last_cost(Some(INLINE_BUDGET)),
            Placement::Inline
        );
        assert_eq!(
            Placement::from_last_cost(Some(INLINE_BUDGET + Duration::from_micros(1))),
            Placement::Pool
        );
    }

    #[tokio::test]
    async fn a_panic_becomes_an_error_and_the_pool_keeps_working() {
        let err = evaluate(Placement::Pool, || -> u32 { panic!("boom {}", 7) })
            .await
            .unwrap_err();
        assert!(err.contains("boom 7"), "{err}");
        let err = evaluate(Placement::Pool, || -> u32 { std::panic::panic_any(42_u8) })
            .await
            .unwrap_err();
        assert!(err.contains("unknown cause"), "{err}");
        assert_eq!(evaluate(Placement::Pool, || 1 + 1).await, Ok(2));
    }
}
