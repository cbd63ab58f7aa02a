//! Background work: a flusher thread (periodic flush, retention, interval fsync) and a
//! merger thread (woken after each flush). Both hold only a `Weak` reference to the
//! engine and stop when asked or when the engine is gone.

use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::engine::Engine;
use crate::FsyncPolicy;

#[derive(Default)]
struct Flags {
    stop: bool,
    flush_requested: bool,
    merge_requested: bool,
}

#[derive(Default)]
struct Signals {
    flags: Mutex<Flags>,
    cv: Condvar,
}

pub(crate) struct Background {
    signals: Arc<Signals>,
    threads: Vec<JoinHandle<()>>,
}

impl Background {
    pub(crate) fn start(engine: &Arc<Engine>) -> Background {
        let signals = Arc::new(Signals::default());
        let flush_interval = engine.opts.flush_interval;
        let fsync_interval = match engine.opts.fsync {
            FsyncPolicy::Interval(d) if !d.is_zero() => Some(d),
            _ => None,
        };
        let tick = fsync_interval.map_or(flush_interval, |f| f.min(flush_interval));
        let flusher = {
            let (weak, signals) = (Arc::downgrade(engine), signals.clone());
            std::thread::Builder::new()
                .name("tidemark-flush".into())
                .spawn(move || flusher_loop(weak, signals, tick, flush_interval, fsync_interval))
                .expect("spawning the flush thread")
        };
        let merger = {
            let (weak, signals) = (Arc::downgrade(engine), signals.clone());
            std::thread::Builder::new()
                .name("tidemark-merge".into())
                .spawn(move || merger_loop(weak, signals))
                .expect("spawning the merge thread")
        };
        Background {
            signals,
            threads: vec![flusher, merger],
        }
    }

    pub(crate) fn request_flush(&self) {
        self.signals.flags.lock().flush_requested = true;
        self.signals.cv.notify_all();
    }

    /// Signals both threads and waits for them to finish their current step.
    pub(crate) fn stop(self) {
        self.signals.flags.lock().stop = true;
        self.signals.cv.notify_all();
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn flusher_loop(
    engine: Weak<Engine>,
    signals: Arc<Signals>,
    tick: Duration,
    flush_interval: Duration,
    fsync_interval: Option<Duration>,
) {
    let mut last_flush = Instant::now();
    let mut last_sync = Instant::now();
    loop {
        let flush_now = {
            let mut flags = signals.flags.lock();
            if !flags.stop && !flags.flush_requested {
                signals.cv.wait_for(&mut flags, tick);
            }
            if flags.stop {
                return;
            }
            std::mem::take(&mut flags.flush_requested)
        };
        let Some(engine) = engine.upgrade() else {
            return;
        };
        if let Some(every) = fsync_interval {
            if last_sync.elapsed() >= every {
                if let Err(e) = engine.wal.sync_all() {
                    tracing::error!(error = %e, "background WAL fsync failed");
                }
                last_sync = Instant::now();
            }
        }
        if flush_now || last_flush.elapsed() >= flush_interval {
            last_flush = Instant::now();
            if let Err(e) = engine.flush_inner() {
                tracing::error!(error = %e, "background flush failed; will retry");
            }
            if let Err(e) = engine.enforce_retention() {
                tracing::error!(error = %e, "retention failed");
            }
            signals.flags.lock().merge_requested = true;
            signals.cv.notify_all();
        }
    }
}

fn merger_loop(engine: Weak<Engine>, signals: Arc<Signals>) {
    loop {
        {
            let mut flags = signals.flags.lock();
            while !flags.stop && !flags.merge_requested {
                signals.cv.wait(&mut flags);
            }
            if flags.stop {
                return;
            }
            flags.merge_requested = false;
        }
        let Some(engine) = engine.upgrade() else {
            return;
        };
        if let Err(e) = engine.run_merges(false) {
            tracing::error!(error = %e, "background merge failed");
        }
    }
}
