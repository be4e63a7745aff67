//! `berth-wiregen [print|write|check] [SPEC]`: prints, rewrites or checks the committed wire
//! types against moby's spec.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map(String::as_str).unwrap_or("print");
    let spec = args
        .get(1)
        .map(std::path::PathBuf::from)
        .or_else(berth_wiregen::spec_path);
    let Some(spec) = spec else {
        eprintln!("moby's spec not found: pass its path or set BERTH_MOBY_SPEC");
        return ExitCode::FAILURE;
    };
    let generated = match std::fs::read_to_string(&spec)
        .map_err(|e| format!("{}: {e}", spec.display()))
        .and_then(|y| berth_wiregen::generate(&y))
    {
        Ok(g) => g,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let target = berth_wiregen::committed_path();
    match mode {
        "print" => {
            print!("{generated}");
            ExitCode::SUCCESS
        }
        "write" => match std::fs::write(&target, generated) {
            Ok(()) => {
                eprintln!("wrote {}", target.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("cannot write {}: {e}", target.display());
                ExitCode::FAILURE
            }
        },
        "check" => {
            if std::fs::read_to_string(&target).ok().as_deref() == Some(generated.as_str()) {
                ExitCode::SUCCESS
            } else {
                eprintln!(
                    "{} is stale: run `cargo run -p berth-wiregen -- write`",
                    target.display()
                );
                ExitCode::FAILURE
            }
        }
        other => {
            eprintln!("usage: berth-wiregen [print|write|check] [SPEC] (got {other})");
            ExitCode::FAILURE
        }
    }
}
