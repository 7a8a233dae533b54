//! `cargo run -p cairn-fuzz --example fuzz_seeds -- DIR [TARGET...]`: writes each target's seeds to `DIR/<target>/seed-<n>`, the
//! starting corpus `scripts/fuzz` gives libFuzzer (which adds what it finds beside them).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next().map(PathBuf::from) else {
        eprintln!("usage: fuzz-seeds DIR [TARGET...]");
        return ExitCode::from(2);
    };
    let wanted: Vec<String> = args.collect();
    for target in cairn_fuzz::TARGETS {
        if !wanted.is_empty() && !wanted.iter().any(|w| w == target.name) {
            continue;
        }
        let out = dir.join(target.name);
        let written = std::fs::create_dir_all(&out).and_then(|()| {
            for (n, seed) in cairn_fuzz::seeds(target.name).iter().enumerate() {
                std::fs::write(out.join(format!("seed-{n}")), seed)?;
            }
            Ok(())
        });
        if let Err(e) = written {
            eprintln!("fuzz-seeds: {}: {e}", out.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
