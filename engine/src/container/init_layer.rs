//! The init layer: a snapshot between the image and a container's writable layer holding the
//! placeholders dockerd puts there (mount points for the files Berth binds in, `/.dockerenv`,
//! `/etc/mtab`), so they never count as the container's own changes.

use std::io;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Component, Path};

enum Placeholder {
    Dir,
    File,
    Symlink(&'static str),
}

const PLACEHOLDERS: &[(&str, Placeholder)] = &[
    ("dev/pts", Placeholder::Dir),
    ("dev/shm", Placeholder::Dir),
    ("proc", Placeholder::Dir),
    ("sys", Placeholder::Dir),
    (".dockerenv", Placeholder::File),
    ("etc/resolv.conf", Placeholder::File),
    ("etc/hosts", Placeholder::File),
    ("etc/hostname", Placeholder::File),
    ("dev/console", Placeholder::File),
    ("etc/mtab", Placeholder::Symlink("/proc/mounts")),
];

/// Creates the placeholders missing from the mounted root filesystem `root`. Nothing that
/// exists is touched, and no symlink inside the image is followed: a placeholder under one
/// is left for runc, which resolves mount points within the root itself.
pub fn populate(root: &Path) -> io::Result<()> {
    'next: for (rel, kind) in PLACEHOLDERS {
        let path = Path::new(rel);
        let mut at = root.to_path_buf();
        for c in path.parent().into_iter().flat_map(Path::components) {
            let Component::Normal(part) = c else {
                continue;
            };
            at.push(part);
            match std::fs::symlink_metadata(&at) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => continue 'next,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    std::fs::DirBuilder::new().mode(0o755).create(&at)?;
                }
                Err(e) => return Err(e),
            }
        }
        let full = root.join(path);
        if std::fs::symlink_metadata(&full).is_ok() {
            continue;
        }
        match kind {
            Placeholder::Dir => std::fs::DirBuilder::new().mode(0o755).create(&full)?,
            Placeholder::File => {
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o755)
                    .open(&full)?;
            }
            Placeholder::Symlink(target) => std::os::unix::fs::symlink(target, &full)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("berth-init-{:08x}", rand::random::<u32>()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn placeholders_fill_gaps_and_keep_what_exists() {
        let root = scratch();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/hosts"), b"image's own\n").unwrap();
        populate(&root).unwrap();
        assert_eq!(
            std::fs::read(root.join("etc/hosts")).unwrap(),
            b"image's own\n"
        );
        assert!(root.join("dev/pts").is_dir() && root.join("proc").is_dir());
        let env = std::fs::metadata(root.join(".dockerenv")).unwrap();
        assert_eq!(env.len(), 0);
        assert_eq!(
            std::fs::read_link(root.join("etc/mtab")).unwrap(),
            Path::new("/proc/mounts")
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn symlinked_parents_are_not_followed() {
        let root = scratch();
        let outside = scratch();
        std::os::unix::fs::symlink(&outside, root.join("etc")).unwrap();
        populate(&root).unwrap();
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
        assert!(root.join(".dockerenv").exists());
        std::fs::remove_dir_all(&root).unwrap();
        std::fs::remove_dir_all(&outside).unwrap();
    }
}
