//! Mounting a snapshot's mounts on the host for a moment, so the engine can work inside a
//! container's filesystem (the init layer now; export and copy later).

use std::path::Path;

use containerd_client::types::Mount;
use nix::mount::{MntFlags, MsFlags};

use crate::{Error, Result};

/// Mounts `mounts` (as a snapshotter returns them) at `target`, runs `f` on it, and always
/// unmounts again.
pub fn with_mounted<T>(mounts: &[Mount], target: &Path, f: impl FnOnce(&Path) -> T) -> Result<T> {
    std::fs::create_dir_all(target)?;
    mount_all(mounts, target)?;
    let out = f(target);
    let unmounted = nix::mount::umount2(target, MntFlags::empty())
        .or_else(|_| nix::mount::umount2(target, MntFlags::MNT_DETACH));
    let _ = std::fs::remove_dir(target);
    unmounted.map_err(|e| Error::internal(format!("unmount {}: {e}", target.display())))?;
    Ok(out)
}

pub(crate) fn mount_all(mounts: &[Mount], target: &Path) -> Result<()> {
    let [m] = mounts else {
        return Err(Error::internal(format!(
            "expected one mount for a snapshot, got {}",
            mounts.len()
        )));
    };
    let (mut flags, data) = split_options(&m.options);
    let fstype = if m.r#type == "bind" {
        flags |= MsFlags::MS_BIND;
        None
    } else {
        Some(m.r#type.as_str())
    };
    let data = (!data.is_empty()).then(|| data.join(","));
    nix::mount::mount(
        Some(m.source.as_str()),
        target,
        fstype,
        flags,
        data.as_deref(),
    )
    .map_err(|e| Error::internal(format!("mount {} at {}: {e}", m.r#type, target.display())))?;
    // A bind mount ignores MS_RDONLY on its first pass.
    if flags.contains(MsFlags::MS_BIND | MsFlags::MS_RDONLY) {
        let _ = nix::mount::mount(
            None::<&str>,
            target,
            None::<&str>,
            flags | MsFlags::MS_REMOUNT,
            None::<&str>,
        );
    }
    Ok(())
}

/// fstab-style options: the flags mount(2) takes, and the rest as filesystem data.
pub(crate) fn split_options(options: &[String]) -> (MsFlags, Vec<&str>) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for o in options {
        match o.as_str() {
            "ro" => flags |= MsFlags::MS_RDONLY,
            "rw" => flags &= !MsFlags::MS_RDONLY,
            "bind" => flags |= MsFlags::MS_BIND,
            "rbind" => flags |= MsFlags::MS_BIND | MsFlags::MS_REC,
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            other => data.push(other),
        }
    }
    (flags, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_into_flags_and_data() {
        let opts: Vec<String> = ["ro", "rbind", "lowerdir=/a:/b", "index=off"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (flags, data) = split_options(&opts);
        assert!(flags.contains(MsFlags::MS_RDONLY | MsFlags::MS_BIND | MsFlags::MS_REC));
        assert_eq!(data, ["lowerdir=/a:/b", "index=off"]);
    }
}
