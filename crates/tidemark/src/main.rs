//! `tidemark`: the single binary. Without a subcommand it runs the single-node server.

mod allocator;
mod cli;
mod memory;

use std::io::IsTerminal as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{CommandFactory, FromArgMatches};
use tidemark_server::{
    default_max_concurrent_inserts, default_max_inflight_bytes, BasicAuth, IngestLimits,
    QueryLimits, ServerConfig,
};

use cli::{Cli, LogFormat, Role, ServerArgs};

/// Used when neither a cgroup limit nor /proc/meminfo can be read.
const FALLBACK_MEMORY_BYTES: u64 = 4 << 30;

fn main() -> ExitCode {
    allocator::limit_arenas();
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    if let Some(role) = cli.role {
        let name = match role {
            Role::Insert => "insert",
            Role::Select => "select",
            Role::Storage => "storage",
        };
        eprintln!("tidemark {name}: this cluster role is not implemented yet; run `tidemark` without a subcommand for the single-node server");
        return ExitCode::from(2);
    }
    if let Err(e) = init_logging(&cli.server) {
        eprintln!("tidemark: {e:#}");
        return ExitCode::FAILURE;
    }
    let flags = effective_flags(&matches);
    match run_server(cli.server, flags) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("tidemark: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(args: &ServerArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log_level)
        .with_context(|| format!("invalid --log.level {:?}", args.log_level))?;
    // Colours only for a terminal; log files and collectors get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match args.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    Ok(())
}

/// `(flag, value)` for every flag, for `/api/v1/status/flags`. Values of flags that
/// were not given show their defaults; only file paths are shown for secrets.
fn effective_flags(matches: &clap::ArgMatches) -> Vec<(String, String)> {
    let cmd = Cli::command();
    let mut out = Vec::new();
    for arg in cmd.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if long == "help" || long == "version" {
            continue;
        }
        let id = arg.get_id().as_str();
        let value = matches
            .get_raw(id)
            .map(|vals| {
                vals.map(|v| v.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        out.push((long.to_string(), value));
    }
    out
}

fn read_secret(path: &std::path::Path) -> anyhow::Result<String> {
    let raw = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read secret file {}", path.display()))?;
    Ok(raw.trim_end_matches(['\r', '\n']).to_string())
}

fn build_config(args: ServerArgs, flags: Vec<(String, String)>) -> anyhow::Result<ServerConfig> {
    let auth = match (args.http_auth_username, args.http_auth_password_file) {
        (Some(username), Some(path)) => Some(BasicAuth {
            username,
            password: read_secret(&path)?,
        }),
        _ => None,
    };
    let limit = memory::memory_limit_bytes().unwrap_or(FALLBACK_MEMORY_BYTES);
    let memory_budget_bytes = (limit as f64 * args.memory_allowed_percent / 100.0) as u64;
    Ok(ServerConfig {
        storage_path: args.storage_path,
        http_listen_addr: args.http_listen_addr,
        opentsdb_listen_addr: args.opentsdb_listen_addr,
        retention: args.retention_period,
        dedup_interval: args.dedup_min_scrape_interval,
        fsync: args.wal_fsync,
        memory_budget_bytes,
        shutdown_delay: args.http_shutdown_delay,
        shutdown_timeout: args.http_shutdown_timeout,
        query: QueryLimits {
            max_series: args.search_max_series,
            max_samples: args.search_max_samples,
            timeout: args.search_timeout,
            max_concurrent: args.search_max_concurrent_queries as usize,
            max_queue_duration: args.search_max_queue_duration,
        },
        ingest: IngestLimits {
            max_request_body_bytes: args.max_request_body_bytes,
            max_decompressed_body_bytes: args.max_decompressed_body_bytes,
            max_concurrent_inserts: args
                .insert_max_concurrent
                .map_or_else(default_max_concurrent_inserts, |n| n as usize),
            max_queue_duration: args.insert_max_queue_duration,
            max_inflight_bytes: args
                .insert_max_inflight_bytes
                .unwrap_or_else(|| default_max_inflight_bytes(limit)),
        },
        auth,
        flags,
    })
}

fn run_server(args: ServerArgs, flags: Vec<(String, String)>) -> anyhow::Result<()> {
    let config = build_config(args, flags)?;
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        storage_path = %config.storage_path.display(),
        http_listen_addr = %config.http_listen_addr,
        retention = ?config.retention,
        memory_budget_bytes = config.memory_budget_bytes,
        "starting tidemark single-node server"
    );
    allocator::spawn_trimmer();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(tidemark_server::run(config))
}
