//! `chaos`: long chaos runs against a real cluster in private network namespaces.
//!
//! ```text
//! chaos [--seed S] [--duration 30m] [--scenarios partition,kill,pause,failpoint,clock,replace,membership]
//!       [--nodes 3|5] [--checker-budget 300s] [--keep]
//! ```
//! Prints a report and one JSON line; exits 1 when a checker found an anomaly (the seed,
//! schedule, history, node logs and data dirs are then kept, and the report says where),
//! 2 on bad arguments or when the harness itself cannot run.

use std::process::ExitCode;
use std::time::Duration;

use cairn_cluster_tests::chaos::{Config, Scenario, run_blocking};

fn duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| format!("bad duration {s:?}"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("bad duration unit in {s:?} (s, m, h)")),
    };
    Ok(Duration::from_secs(secs))
}

fn parse(args: &[String]) -> Result<Config, String> {
    let mut cfg = Config {
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(1),
        ..Config::default()
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--seed" => cfg.seed = value()?.parse().map_err(|_| "bad --seed".to_string())?,
            "--duration" => cfg.duration = duration(&value()?)?,
            "--checker-budget" => cfg.checker_budget = duration(&value()?)?,
            "--nodes" => {
                cfg.nodes = value()?.parse().map_err(|_| "bad --nodes".to_string())?;
                if !matches!(cfg.nodes, 3 | 5) {
                    return Err("--nodes must be 3 or 5".into());
                }
            }
            "--scenarios" => {
                cfg.scenarios = value()?
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| Scenario::parse(s).map_err(|e| e.to_string()))
                    .collect::<Result<_, _>>()?;
            }
            "--keep" => cfg.keep = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(cfg)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cfg = match parse(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "{e}\nusage: chaos [--seed S] [--duration 30m] [--scenarios \
                 partition,kill,pause,failpoint,clock,replace,membership] [--nodes 3|5] [--checker-budget 300s] \
                 [--keep]"
            );
            return ExitCode::from(2);
        }
    };
    eprintln!(
        "chaos: seed {} for {:?} on {} nodes",
        cfg.seed, cfg.duration, cfg.nodes
    );
    match run_blocking(cfg) {
        Ok(report) => {
            print!("{}", report.text());
            println!("{}", report.json());
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("chaos: could not run: {e:#}");
            ExitCode::from(2)
        }
    }
}
