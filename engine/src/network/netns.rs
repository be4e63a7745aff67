//! Network namespaces berthd makes for its containers: a new namespace bind-mounted on a
//! file under the exec root (as `ip netns add` does), so it outlives the thread that made it
//! and can be handed to netavark and to the runtime spec by path.

use std::path::Path;

use nix::mount::{MntFlags, MsFlags};

use crate::{Error, Result};

/// Makes a new network namespace pinned at `path`.
pub fn create(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::File::create(path)?;
    let target = path.to_path_buf();
    // unshare(CLONE_NEWNET) moves only the calling thread; this one ends right after.
    let made = std::thread::spawn(move || -> nix::Result<()> {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)?;
        nix::mount::mount(
            Some("/proc/thread-self/ns/net"),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
    })
    .join()
    .map_err(|_| Error::internal("the network namespace thread panicked"))?;
    made.map_err(|e| {
        let _ = std::fs::remove_file(path);
        Error::internal(format!(
            "creating network namespace {}: {e}",
            path.display()
        ))
    })
}

/// Unpins and deletes a namespace made by [`create`]; a missing one is fine.
pub fn remove(path: &Path) {
    let _ = nix::mount::umount2(path, MntFlags::MNT_DETACH);
    let _ = std::fs::remove_file(path);
}
