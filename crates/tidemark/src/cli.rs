//! Command-line flags. Every flag can also be set through the environment as
//! `TIDEMARK_<FLAG>`: upper-cased, with dots and dashes turned into underscores
//! (`--search.max-series` → `TIDEMARK_SEARCH_MAX_SERIES`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use tidemark_server::{parse_duration, FsyncPolicy};

#[derive(Debug, Parser)]
#[command(
    name = "tidemark",
    version,
    about = "Tidemark: a Prometheus-compatible metrics store. Without a subcommand it runs the single-node server.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub role: Option<Role>,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// Roles of a future cluster deployment. They are declared so the command line is
/// stable, but they do not run yet.
#[derive(Debug, Subcommand)]
pub enum Role {
    /// Cluster ingestion router (not implemented yet).
    Insert,
    /// Cluster query router (not implemented yet).
    Select,
    /// Cluster storage node (not implemented yet).
    Storage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// Data directory.
    #[arg(
        long = "storage-path",
        env = "TIDEMARK_STORAGE_PATH",
        default_value = "./tidemark-data"
    )]
    pub storage_path: PathBuf,

    /// HTTP listen address. 8428 is VictoriaMetrics' port, so existing scrape and
    /// Grafana configs work unchanged.
    #[arg(
        long = "http-listen-addr",
        env = "TIDEMARK_HTTP_LISTEN_ADDR",
        default_value = "0.0.0.0:8428"
    )]
    pub http_listen_addr: SocketAddr,

    /// How long data is kept: a Prometheus duration such as 15d, 1w, 1y or 12h.
    #[arg(long = "retention-period", env = "TIDEMARK_RETENTION_PERIOD", default_value = "31d", value_parser = parse_duration)]
    pub retention_period: Duration,

    /// Keep one sample per series per this interval (for HA Prometheus pairs); 0s disables.
    #[arg(long = "dedup.min-scrape-interval", env = "TIDEMARK_DEDUP_MIN_SCRAPE_INTERVAL", default_value = "0s", value_parser = parse_duration)]
    pub dedup_min_scrape_interval: Duration,

    /// Share of memory (the cgroup v2/v1 limit, else physical RAM) for caches and buffers.
    #[arg(long = "memory.allowed-percent", env = "TIDEMARK_MEMORY_ALLOWED_PERCENT", default_value_t = 60.0, value_parser = parse_percent)]
    pub memory_allowed_percent: f64,

    /// WAL durability: every-batch (fsync before acknowledging), interval:<duration>, or never.
    #[arg(long = "wal.fsync", env = "TIDEMARK_WAL_FSYNC", default_value = "every-batch", value_parser = parse_fsync)]
    pub wal_fsync: FsyncPolicy,

    #[arg(
        long = "log.format",
        env = "TIDEMARK_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,

    /// Log level (error, warn, info, debug, trace) or a tracing filter such as `info,tidemark_storage=debug`.
    #[arg(long = "log.level", env = "TIDEMARK_LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// On SIGTERM, keep serving this long with /ready answering 503 before closing the listener.
    #[arg(long = "http.shutdown-delay", env = "TIDEMARK_HTTP_SHUTDOWN_DELAY", default_value = "0s", value_parser = parse_duration)]
    pub http_shutdown_delay: Duration,

    /// On SIGTERM, how long in-flight requests may take to finish.
    #[arg(long = "http.shutdown-timeout", env = "TIDEMARK_HTTP_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub http_shutdown_timeout: Duration,

    /// Basic-auth user name; requires --http.auth-password-file.
    #[arg(
        long = "http.auth-username",
        env = "TIDEMARK_HTTP_AUTH_USERNAME",
        requires = "http_auth_password_file"
    )]
    pub http_auth_username: Option<String>,

    /// File holding the basic-auth password (a trailing newline is ignored).
    #[arg(
        long = "http.auth-password-file",
        env = "TIDEMARK_HTTP_AUTH_PASSWORD_FILE",
        requires = "http_auth_username"
    )]
    pub http_auth_password_file: Option<PathBuf>,

    /// Largest request body as sent (possibly compressed), e.g. 32MiB.
    #[arg(long = "max-request-body-bytes", env = "TIDEMARK_MAX_REQUEST_BODY_BYTES", default_value = "32MiB", value_parser = parse_bytes)]
    pub max_request_body_bytes: usize,

    /// Largest request body after decompression, e.g. 128MiB.
    #[arg(long = "max-decompressed-body-bytes", env = "TIDEMARK_MAX_DECOMPRESSED_BODY_BYTES", default_value = "128MiB", value_parser = parse_bytes)]
    pub max_decompressed_body_bytes: usize,

    /// Ingestion requests processed at once (default: twice the CPU count); more wait up
    /// to --insert.max-queue-duration, then get 503.
    #[arg(long = "insert.max-concurrent", env = "TIDEMARK_INSERT_MAX_CONCURRENT", value_parser = clap::value_parser!(u32).range(1..))]
    pub insert_max_concurrent: Option<u32>,

    /// Ingestion request data held in memory at once (bodies as sent, decompressed and
    /// decoded); requests beyond it get 503 with Retry-After. Default: 15% of the
    /// memory limit (cgroup, else RAM), at least 16MiB.
    #[arg(long = "insert.max-inflight-bytes", env = "TIDEMARK_INSERT_MAX_INFLIGHT_BYTES", value_parser = parse_bytes)]
    pub insert_max_inflight_bytes: Option<usize>,

    #[arg(long = "insert.max-queue-duration", env = "TIDEMARK_INSERT_MAX_QUEUE_DURATION", default_value = "1s", value_parser = parse_duration)]
    pub insert_max_queue_duration: Duration,

    /// Series one query may select; 0 = unlimited. The default is VictoriaMetrics'
    /// `-search.maxUniqueTimeseries`: fleet-wide panels over a few hundred hosts select
    /// tens of thousands of series.
    #[arg(
        long = "search.max-series",
        env = "TIDEMARK_SEARCH_MAX_SERIES",
        default_value_t = 300_000
    )]
    pub search_max_series: usize,

    /// Samples one query may load; 0 = unlimited.
    #[arg(
        long = "search.max-samples",
        env = "TIDEMARK_SEARCH_MAX_SAMPLES",
        default_value_t = 50_000_000
    )]
    pub search_max_samples: usize,

    /// Longest a query may run; a request's `timeout` parameter may only shorten it.
    #[arg(long = "search.timeout", env = "TIDEMARK_SEARCH_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub search_timeout: Duration,

    /// Queries evaluated at once.
    #[arg(long = "search.max-concurrent-queries", env = "TIDEMARK_SEARCH_MAX_CONCURRENT_QUERIES", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    pub search_max_concurrent_queries: u32,

    /// How long a query may wait for a free slot before it gets 503.
    #[arg(long = "search.max-queue-duration", env = "TIDEMARK_SEARCH_MAX_QUEUE_DURATION", default_value = "10s", value_parser = parse_duration)]
    pub search_max_queue_duration: Duration,

    /// OpenTSDB telnet `put` listener, e.g. 0.0.0.0:4242; off when unset.
    #[arg(long = "opentsdb-listen-addr", env = "TIDEMARK_OPENTSDB_LISTEN_ADDR")]
    pub opentsdb_listen_addr: Option<SocketAddr>,
}

fn parse_percent(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if !(1.0..=100.0).contains(&v) {
        return Err(format!("{v} is outside 1..=100"));
    }
    Ok(v)
}

/// `every-batch`, `never` or `interval:<duration>`.
pub fn parse_fsync(s: &str) -> Result<FsyncPolicy, String> {
    match s {
        "every-batch" => Ok(FsyncPolicy::EveryBatch),
        "never" => Ok(FsyncPolicy::Never),
        _ => {
            let d = s.strip_prefix("interval:").ok_or_else(|| {
                format!("{s:?}: want every-batch, never or interval:<duration> (e.g. interval:1s)")
            })?;
            let d = parse_duration(d)?;
            if d.is_zero() {
                return Err("interval:<duration> must be positive".to_string());
            }
            Ok(FsyncPolicy::Interval(d))
        }
    }
}

/// A byte size: a plain integer or one with a KB/MB/GB (powers of 1000) or KiB/MiB/GiB suffix.
pub fn parse_bytes(s: &str) -> Result<usize, String> {
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(digits_end);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?}: want a size such as 33554432, 32MiB or 100MB"))?;
    let mult: u64 = match unit {
        "" | "B" => 1,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => {
            return Err(format!(
                "{s:?}: unknown size unit {unit:?} (use KB, MB, GB, KiB, MiB or GiB)"
            ))
        }
    };
    let bytes = n
        .checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))?;
    if bytes == 0 {
        return Err("size must be positive".to_string());
    }
    usize::try_from(bytes).map_err(|_| format!("{s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_flag_has_the_documented_env_name() {
        let cmd = Cli::command();
        for arg in cmd.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if long == "help" || long == "version" {
                continue;
            }
            let want = format!("TIDEMARK_{}", long.to_uppercase().replace(['.', '-'], "_"));
            let got = arg.get_env().map(|e| e.to_string_lossy().into_owned());
            assert_eq!(got.as_deref(), Some(want.as_str()), "--{long}");
        }
    }

    #[test]
    fn defaults_just_work() {
        let cli = Cli::try_parse_from(["tidemark"]).unwrap();
        assert!(cli.role.is_none());
        assert_eq!(cli.server.http_listen_addr.port(), 8428);
        assert_eq!(
            cli.server.retention_period,
            Duration::from_secs(31 * 86_400)
        );
        assert_eq!(cli.server.wal_fsync, FsyncPolicy::EveryBatch);
    }

    #[test]
    fn value_forms() {
        assert_eq!(
            parse_fsync("interval:1s").unwrap(),
            FsyncPolicy::Interval(Duration::from_secs(1))
        );
        assert_eq!(parse_fsync("never").unwrap(), FsyncPolicy::Never);
        assert!(parse_fsync("sometimes").is_err());
        assert!(parse_fsync("interval:0s").is_err());
        assert_eq!(parse_bytes("32MiB").unwrap(), 32 << 20);
        assert_eq!(parse_bytes("1000").unwrap(), 1000);
        assert_eq!(parse_bytes("2KB").unwrap(), 2000);
        assert!(parse_bytes("12XB").is_err());
        assert!(parse_bytes("0").is_err());
        let cli = Cli::try_parse_from([
            "tidemark",
            "--retention-period",
            "1y",
            "--search.timeout=5s",
        ])
        .unwrap();
        assert_eq!(
            cli.server.retention_period,
            Duration::from_secs(365 * 86_400)
        );
        assert!(Cli::try_parse_from(["tidemark", "--retention-period", "15"]).is_err());
        assert!(Cli::try_parse_from(["tidemark", "--memory.allowed-percent", "0"]).is_err());
    }
}
