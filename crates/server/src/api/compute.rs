//! Where PromQL evaluations run: on rayon's pool, the one the engine's own parallel
//! loops use.
//!
//! A `par_iter` started on a thread outside the pool (such as tokio's blocking pool)
//! must inject its work into the pool and sleep until a worker has finished it: two
//! thread wake-ups per parallel section, several per range query. Started on a pool
//! worker it runs in place. For dashboard queries that evaluate in a fraction of a
//! millisecond those wake-ups were most of the server-side time.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use tokio::sync::oneshot;

/// Runs `job` on rayon's pool and waits for its result. A panic in `job` is caught
/// and returned as `Err` with its message; it neither aborts the process (rayon's
/// default for a panicking spawned job) nor kills a pool thread.
///
/// Dropping the returned future does not stop `job`: callers cancel through the
/// engine's `QueryContext`, which the evaluation checks as it runs.
pub(crate) async fn evaluate<T, F>(job: F) -> Result<T, String>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
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
        let on_pool = evaluate(|| rayon::current_thread_index().is_some())
            .await
            .unwrap();
        assert!(on_pool, "the job did not run on a rayon worker");
    }

    #[tokio::test]
    async fn a_panic_becomes_an_error_and_the_pool_keeps_working() {
        let err = evaluate(|| -> u32 { panic!("boom {}", 7) })
            .await
            .unwrap_err();
        assert!(err.contains("boom 7"), "{err}");
        let err = evaluate(|| -> u32 { std::panic::panic_any(42_u8) })
            .await
            .unwrap_err();
        assert!(err.contains("unknown cause"), "{err}");
        assert_eq!(evaluate(|| 1 + 1).await, Ok(2));
    }
}
