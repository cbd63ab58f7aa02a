//! glibc malloc tuning. By default glibc gives each thread that allocates
//! concurrently its own arena (up to 8 × cores) and keeps freed memory inside
//! them, so the buffers freed after a flush or merge stay in RSS and steady-state
//! memory grows with thread count rather than with live data. We cap the arenas
//! and periodically hand free pages back to the kernel.

use std::time::Duration;

/// Arenas glibc may create. Two keeps contention low on the ingest and query
/// threads while bounding per-arena fragmentation.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MAX_ARENAS: libc::c_int = 2;

/// Bounds on how often free heap pages are returned to the kernel. Memory freed
/// after a flush or merge should leave RSS within a second or two, but `malloc_trim`
/// walks the free lists (milliseconds on a large heap), so the pause after each trim
/// is [`TRIM_COST_FACTOR`] times what it took, within these bounds: trimming never
/// takes more than ~1% of one core.
pub const MIN_TRIM_INTERVAL: Duration = Duration::from_secs(1);
pub const MAX_TRIM_INTERVAL: Duration = Duration::from_secs(10);
const TRIM_COST_FACTOR: u32 = 100;

/// Caps glibc's arena count. Must run before any other thread starts, since
/// arenas are created on first contended allocation.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before other threads exist.
    unsafe {
        if libc::mallopt(libc::M_ARENA_MAX, MAX_ARENAS) == 0 {
            eprintln!("tidemark: mallopt(M_ARENA_MAX) failed; using glibc defaults");
        }
    }
}

/// The pause before the next trim, given how long the last one took.
pub fn next_trim_interval(last_trim: Duration) -> Duration {
    (last_trim * TRIM_COST_FACTOR).clamp(MIN_TRIM_INTERVAL, MAX_TRIM_INTERVAL)
}

/// Starts a background thread that returns free heap memory to the kernel, as often
/// as [`next_trim_interval`] allows. A no-op where the allocator is not glibc.
pub fn spawn_trimmer() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let spawned = std::thread::Builder::new()
            .name("malloc-trim".into())
            .spawn(|| {
                let mut interval = MIN_TRIM_INTERVAL;
                loop {
                    std::thread::sleep(interval);
                    let started = std::time::Instant::now();
                    // SAFETY: malloc_trim is thread-safe; it only releases free pages.
                    unsafe {
                        libc::malloc_trim(0);
                    }
                    interval = next_trim_interval(started.elapsed());
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the malloc trim thread");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_pause_a_hundred_times_their_cost_within_bounds() {
        assert_eq!(next_trim_interval(Duration::ZERO), MIN_TRIM_INTERVAL);
        assert_eq!(
            next_trim_interval(Duration::from_millis(30)),
            Duration::from_secs(3)
        );
        assert_eq!(
            next_trim_interval(Duration::from_secs(1)),
            MAX_TRIM_INTERVAL
        );
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn trim_returns_freed_memory() {
        fn rss_kib() -> u64 {
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
            line.split_whitespace().nth(1).unwrap().parse().unwrap()
        }
        // Many small blocks (below the mmap threshold), so glibc keeps them in the
        // heap after free, then one survivor at the end pins the heap top.
        let blocks: Vec<Vec<u8>> = (0..20_000).map(|i| vec![i as u8; 4096]).collect();
        let pin = vec![1u8; 64];
        let before_free = rss_kib();
        drop(blocks);
        // SAFETY: as in spawn_trimmer.
        unsafe {
            libc::malloc_trim(0);
        }
        let after_trim = rss_kib();
        assert!(pin[0] == 1);
        assert!(
            after_trim + 40_000 < before_free,
            "rss {before_free} KiB before free, {after_trim} KiB after trim"
        );
    }
}
