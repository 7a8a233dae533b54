//! The `cairn` binary: run a node (`serve`), a local cluster (`up`), touch data (`kv`), and
//! measure (`bench`).

mod bench;
mod cli_kv;
mod config;
mod server;
mod services;
mod status;
mod up;

use std::io::IsTerminal;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "cairn",
    version,
    about = "Cairn: a Raft-replicated state store for workflow orchestrators"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one node.
    Serve(config::ServeArgs),
    /// Start a local 3-node cluster under ./cairn-data (Ctrl-C stops it; run again to resume).
    Up(up::UpArgs),
    /// Put, get, delete and list keys.
    Kv(cli_kv::KvArgs),
    /// Measure put throughput and latency against a running cluster.
    Bench(bench::BenchArgs),
}

fn init_logging() {
    let filter = EnvFilter::try_from_env("CAIRN_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,openraft=warn"));
    // Colour codes only on a terminal: node logs usually go to files.
    let ansi = std::io::stderr().is_terminal();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Serve(args) => {
            init_logging();
            match config::NodeConfig::resolve(args) {
                Ok(cfg) => server::serve(cfg, server::shutdown_signal()).await,
                Err(e) => Err(e),
            }
        }
        Cmd::Up(args) => up::run(args).await,
        Cmd::Kv(args) => cli_kv::run(args).await,
        Cmd::Bench(args) => bench::run(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cairn: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
