//! `berth-busybox-image OUT [TAG]`: writes a `docker load` archive of an image tagged
//! `busybox:latest` (or TAG), built offline from Debian's busybox-static the way the tests build
//! theirs, so that a berthd on a machine that reaches no registry has something to run.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(out) = args.first() else {
        eprintln!("usage: berth-busybox-image OUT.tar [TAG]");
        return ExitCode::from(2);
    };
    let tag = args.get(1).map_or("busybox:latest", String::as_str);
    let archive = compat_tests::fixtures::busybox_archive(&[tag]);
    let copied = std::fs::copy(&archive, out);
    // The fixtures directory belongs to this process: nothing of it is kept.
    let _ = std::fs::remove_dir_all(compat_tests::fixtures::fixtures_dir());
    match copied {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth-busybox-image: cannot write {out}: {e}");
            ExitCode::FAILURE
        }
    }
}
