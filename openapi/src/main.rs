//! `berth-openapi [print|write|coverage [SPEC]]`: prints or rewrites the committed document,
//! or reports which of moby's operations berthd serves.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str).unwrap_or("print") {
        "print" => {
            print!("{}", berth_openapi::generated());
            ExitCode::SUCCESS
        }
        "write" => {
            let path = berth_openapi::committed_path();
            match std::fs::write(&path, berth_openapi::generated()) {
                Ok(()) => {
                    eprintln!("wrote {}", path.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("cannot write {}: {e}", path.display());
                    ExitCode::FAILURE
                }
            }
        }
        "coverage" => {
            let spec = args
                .get(1)
                .map(std::path::PathBuf::from)
                .unwrap_or_else(berth_openapi::moby_spec_path);
            match std::fs::read_to_string(&spec) {
                Ok(yaml) => {
                    print!("{}", berth_openapi::coverage_report(&yaml));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("cannot read {}: {e}", spec.display());
                    ExitCode::FAILURE
                }
            }
        }
        other => {
            eprintln!("usage: berth-openapi [print|write|coverage [SPEC]] (got {other})");
            ExitCode::FAILURE
        }
    }
}
