//! The `cairn` binary: run a node (`serve`, cairn-server), a local cluster (`up`), touch data
//! (`kv`), measure (`bench`) and operate a cluster (`ctl`, including the offline restore).
//! Everything but `serve` talks to a cluster through cairn-client, as any user would.

mod bench;
mod ctl;
mod endpoints_arg;
mod keygen;
mod kv;
mod up;

use std::io::IsTerminal;

use clap::{Parser, Subcommand};

use tracing_subscriber::EnvFilter;

/// malloc/free were a fifth of a node's CPU under write load with glibc's allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc.h's `mi_option_e` (libmimalloc-sys names no constant
/// for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// mimalloc returns emptied pages to the OS after 10 ms, and a node under write load then
/// spends ~5% of its CPU faulting zeroed pages back in (seen with perf). Holding them for a
/// second removes that churn (+10-15% puts/s at 64 clients) and still returns memory when
/// load drops. An explicit MIMALLOC_PURGE_DELAY in the environment wins.
fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a plain integer option; mimalloc reads it at its next purge decision.
        #[allow(unsafe_code)]
        unsafe {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 1000)
        };
    }
}

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
    // Boxed: the node's flags make this variant much larger than the others.
    Serve(Box<cairn_server::ServeArgs>),
    /// Start a local 3-node cluster under ./cairn-data (Ctrl-C stops it; run again to resume).
    Up(up::UpArgs),
    /// Put, get, delete and list keys.
    Kv(kv::KvArgs),
    /// Measure put throughput and latency against a running cluster.
    Bench(bench::BenchArgs),
    /// Operate a cluster: status, members, leadership, snapshots, backup/restore, workflows.
    Ctl(ctl::CtlArgs),
    /// Create an encryption key file, or add a new key to the front of one (rotation).
    Keygen(keygen::KeygenArgs),
}

fn init_logging() {
    let filter = EnvFilter::try_from_env("CAIRN_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,openraft=warn,cairn_client=warn"));
    // Colour codes only on a terminal: node logs usually go to files.
    let ansi = std::io::stderr().is_terminal();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> std::process::ExitCode {
    tune_allocator();
    // Fault-test builds arm failpoints from the FAILPOINTS environment variable.
    #[cfg(feature = "failpoints")]
    let _failpoints = {
        let scenario = fail::FailScenario::setup();
        let armed = fail::list();
        if !armed.is_empty() {
            // Before logging is set up; fault tests look for this line.
            eprintln!("cairn: failpoints armed: {armed:?}");
        }
        scenario
    };
    let cli = Cli::parse();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    // Several nodes often share one machine (tests, `cairn up`); fewer workers each then
    // means fewer context switches.
    if let Some(n) = std::env::var("CAIRN_WORKER_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        rt.worker_threads(n);
    }
    match rt.build() {
        Ok(rt) => rt.block_on(run(cli)),
        Err(e) => {
            eprintln!("cairn: start runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> std::process::ExitCode {
    let result = match cli.cmd {
        // ctl has its own exit codes (see ctl::error::exit).
        Cmd::Ctl(args) => {
            init_logging();
            return ctl::run(args).await;
        }
        Cmd::Serve(args) => {
            init_logging();
            match (
                cairn_server::NodeConfig::resolve(*args),
                cairn_server::Shutdown::install(),
            ) {
                (Ok(cfg), Ok(mut stop)) => {
                    let served = cairn_server::serve(cfg, async move { stop.wait().await }).await;
                    if let Err(e) = served {
                        // Exit at once: dropping the runtime and the stores would wait for
                        // storage threads that a failing disk (say, a full one) can hold
                        // forever. Everything acknowledged is durable in the log already, so
                        // this is a crash like any other, recovered at the next start.
                        eprintln!("cairn: {e:#}");
                        std::process::exit(1);
                    }
                    Ok(())
                }
                (Err(e), _) => Err(e),
                (_, Err(e)) => Err(e.into()),
            }
        }
        Cmd::Up(args) => up::run(args).await,
        Cmd::Keygen(args) => keygen::run(&args),
        Cmd::Kv(args) => {
            init_logging();
            kv::run(args).await
        }
        Cmd::Bench(args) => {
            init_logging();
            bench::run(args).await
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cairn: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
