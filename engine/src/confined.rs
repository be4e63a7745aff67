//! A directory tree worked on as if it were `/`: `..` stops at its top, and symlinks,
//! absolute or relative, resolve inside it. Every lookup goes through `openat2` with
//! `RESOLVE_IN_ROOT`, so even a tree that changes underneath (a running container swapping
//! a directory for a symlink) cannot redirect a lookup to the host. `docker cp` reads and
//! writes container files only through this (the class of CVE-2018-15664).

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::libc;
use nix::sys::stat::{FileStat, Mode, SFlag};

/// What `HEAD /containers/{id}/archive` reports about a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    /// Go's `os.FileMode` bits, which is what the API carries.
    pub mode: u32,
    /// RFC 3339 with nanoseconds.
    pub mtime: String,
    /// For a symlink: where it leads, resolved inside the tree, as an absolute path.
    pub link_target: String,
}

/// How an archive is unpacked (`PUT /containers/{id}/archive`).
#[derive(Clone, Debug, Default)]
pub struct ExtractOptions {
    /// Refuse to replace a directory with a non-directory and the reverse.
    pub no_overwrite_dir_non_dir: bool,
    /// Owner for every entry instead of the one in the archive (`copyUIDGID`).
    pub chown: Option<(u32, u32)>,
}

/// A path inside the tree as its components, with no `.`, `..` or empty ones.
pub type Components = Vec<OsString>;

pub struct Confined {
    root: OwnedFd,
}

/// Links followed before giving up, as the kernel's limit.
const MAX_LINKS: usize = 40;

fn io(e: Errno) -> std::io::Error {
    std::io::Error::from(e)
}

fn rel(comps: &[OsString]) -> PathBuf {
    if comps.is_empty() {
        return PathBuf::from(".");
    }
    comps.iter().collect()
}

/// `/` followed by the components: how the container sees the path.
pub fn display(comps: &[OsString]) -> String {
    let mut s = String::new();
    for c in comps {
        s.push('/');
        s.push_str(&c.to_string_lossy());
    }
    if s.is_empty() { "/".into() } else { s }
}

/// The request path made absolute, keeping a trailing `/` or `/.` (which ask for the
/// directory itself or its content), as moby's `PreserveTrailingDotOrSeparator` does.
pub fn absolute(path: &str) -> String {
    let mut comps: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                comps.pop();
            }
            c => comps.push(c),
        }
    }
    let mut abs = format!("/{}", comps.join("/"));
    if abs != "/" {
        if path.ends_with("/.") || path == "." {
            abs.push_str("/.");
        } else if path.ends_with('/') {
            abs.push('/');
        }
    }
    abs
}

/// Go's `filepath.Base`: the last element, `.` for `/d/.`, `/` for the root.
pub fn base(abs: &str) -> String {
    let trimmed = abs.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".into();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_string()
}

/// Go's `os.FileMode` from a POSIX `st_mode`.
pub fn go_mode(st_mode: u32) -> u32 {
    let mut mode = st_mode & 0o777;
    match st_mode & libc::S_IFMT {
        libc::S_IFDIR => mode |= 1 << 31,
        libc::S_IFLNK => mode |= 1 << 27,
        libc::S_IFBLK => mode |= 1 << 26,
        libc::S_IFCHR => mode |= (1 << 26) | (1 << 21),
        libc::S_IFIFO => mode |= 1 << 25,
        libc::S_IFSOCK => mode |= 1 << 24,
        _ => {}
    }
    if st_mode & libc::S_ISUID != 0 {
        mode |= 1 << 23;
    }
    if st_mode & libc::S_ISGID != 0 {
        mode |= 1 << 22;
    }
    if st_mode & libc::S_ISVTX != 0 {
        mode |= 1 << 20;
    }
    mode
}

fn rfc3339(secs: i64, nanos: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(
        i128::from(secs) * 1_000_000_000 + i128::from(nanos),
    )
    .ok()
    .and_then(|t| {
        t.format(&time::format_description::well_known::Rfc3339)
            .ok()
    })
    .unwrap_or_default()
}

fn is_dir(st: &FileStat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

fn is_symlink(st: &FileStat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFLNK
}

/// An error the client caused with its archive (answered 400).
fn refused(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, message)
}

impl Confined {
    /// The tree whose top is the directory at `path` (which may itself be a magic link such
    /// as `/proc/<pid>/root`).
    pub fn open(path: &Path) -> std::io::Result<Confined> {
        let root = nix::fcntl::open(
            path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(io)?;
        Ok(Confined { root })
    }

    /// The root filesystem of process `pid`, if that process is (still) in a cgroup whose
    /// path names `owner`. The process directory is opened first and everything else is
    /// read through it, so a pid reused meanwhile by another process is never taken.
    pub fn of_process(pid: u32, owner: &str) -> std::io::Result<Confined> {
        let proc = nix::fcntl::open(
            format!("/proc/{pid}").as_str(),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(io)?;
        let cgroup = nix::fcntl::openat(
            &proc,
            "cgroup",
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(io)?;
        let text = std::io::read_to_string(std::fs::File::from(cgroup))?;
        if owner.is_empty() || !text.contains(owner) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the container's process is gone",
            ));
        }
        let root = nix::fcntl::openat(
            &proc,
            "root",
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(io)?;
        Ok(Confined { root })
    }

    /// Opens a path inside the tree; symlinks on the way (and the last one unless
    /// `O_NOFOLLOW` is in `flags`) resolve inside it.
    fn open_in(&self, comps: &[OsString], flags: OFlag) -> nix::Result<OwnedFd> {
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        nix::fcntl::openat2(&self.root, &rel(comps), how)
    }

    fn open_dir_path(&self, comps: &[OsString]) -> nix::Result<OwnedFd> {
        self.open_in(comps, OFlag::O_PATH | OFlag::O_DIRECTORY)
    }

    /// Resolves `path` to the components of the real location inside the tree: every
    /// symlink on the way is followed (inside the tree), the last one only when `follow_last`.
    /// Components that do not exist are kept as given, as moby's `FollowSymlinkInScope`.
    pub fn resolve(&self, path: &str, follow_last: bool) -> std::io::Result<Components> {
        let mut pending: std::collections::VecDeque<OsString> = path
            .split('/')
            .filter(|c| !c.is_empty())
            .map(OsString::from)
            .collect();
        let mut out: Components = Vec::new();
        let mut links = 0;
        while let Some(c) = pending.pop_front() {
            if c == "." {
                continue;
            }
            if c == ".." {
                out.pop();
                continue;
            }
            if pending.is_empty() && !follow_last {
                out.push(c);
                break;
            }
            let target = match self.open_dir_path(&out) {
                Ok(parent) => match nix::fcntl::readlinkat(&parent, c.as_os_str()) {
                    Ok(t) => Some(t),
                    Err(Errno::EINVAL | Errno::ENOENT | Errno::ENOTDIR) => None,
                    Err(e) => return Err(io(e)),
                },
                Err(Errno::ENOENT | Errno::ENOTDIR) => None,
                Err(e) => return Err(io(e)),
            };
            let Some(target) = target else {
                out.push(c);
                continue;
            };
            links += 1;
            if links > MAX_LINKS {
                return Err(io(Errno::ELOOP));
            }
            if target.as_bytes().starts_with(b"/") {
                out.clear();
            }
            for part in target
                .as_bytes()
                .split(|b| *b == b'/')
                .filter(|p| !p.is_empty())
                .rev()
            {
                pending.push_front(OsStr::from_bytes(part).to_os_string());
            }
        }
        Ok(out)
    }

    /// `lstat` of a resolved path (its parents hold no symlinks).
    fn lstat(&self, comps: &[OsString]) -> std::io::Result<FileStat> {
        let Some((last, parent)) = comps.split_last() else {
            return nix::sys::stat::fstat(&self.root).map_err(io);
        };
        let dir = self.open_dir_path(parent).map_err(io)?;
        nix::sys::stat::fstatat(&dir, last.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW).map_err(io)
    }

    /// What `path` is, as `docker cp` sees it: parents are followed, the last element is
    /// not (unless the path ends in `/` or `/.`). Returns the resolved location too.
    pub fn stat(&self, path: &str) -> std::io::Result<(PathStat, Components)> {
        let abs = absolute(path);
        let follow = abs.ends_with('/') || abs.ends_with("/.");
        let comps = self.resolve(&abs, follow)?;
        let st = self.lstat(&comps)?;
        let link_target = if is_symlink(&st) {
            display(&self.resolve(&abs, true)?)
        } else {
            String::new()
        };
        Ok((
            PathStat {
                name: base(&abs),
                size: st.st_size,
                mode: go_mode(st.st_mode),
                mtime: rfc3339(st.st_mtime, st.st_mtime_nsec),
                link_target,
            },
            comps,
        ))
    }

    /// Writes `path` as a tar to `out`: a directory with everything below it, entries named
    /// from the requested name (so `/a/link/` archives the target's content as `link/…`);
    /// anything else as one entry. Symlinks inside are archived as symlinks.
    pub fn archive(&self, path: &str, out: impl Write) -> std::io::Result<()> {
        let abs = absolute(path);
        let (stat, comps) = self.stat(path)?;
        let name = base(&abs).into_bytes();
        let mut tar = tar::Builder::new(out);
        let mut links = HashMap::new();
        if stat.mode & (1 << 31) != 0 {
            let dir = self
                .open_in(&comps, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
                .map_err(io)?;
            let st = nix::sys::stat::fstat(&dir).map_err(io)?;
            append_dir(&mut tar, &name, &st)?;
            walk(&mut tar, dir, &name, &mut links)?;
        } else {
            let (last, parent) = comps.split_last().ok_or_else(|| io(Errno::EISDIR))?;
            let dir = self.open_dir_path(parent).map_err(io)?;
            append_entry(&mut tar, &dir, last, &name, &mut links)?;
        }
        tar.into_inner()?.flush()
    }

    /// Resolves where an archive is to be unpacked: every symlink followed (so a link to a
    /// directory works). NotFound when missing; NotADirectory when not a directory.
    pub fn extraction_point(&self, path: &str) -> std::io::Result<Components> {
        let comps = self.resolve(&absolute(path), true)?;
        let st = self.lstat(&comps)?;
        if !is_dir(&st) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotADirectory,
                "extraction point is not a directory",
            ));
        }
        Ok(comps)
    }

    /// Unpacks a tar into the directory `dest` (from [`Confined::extraction_point`]).
    /// Entries that would land outside `dest` — `../` names, hard links or relative
    /// symlinks pointing above it — are refused (`InvalidInput`); the tree's own symlinks
    /// are followed inside the tree, never out of it.
    pub fn extract(
        &self,
        dest: &[OsString],
        input: impl Read,
        opts: &ExtractOptions,
    ) -> std::io::Result<()> {
        let dest_text = display(dest);
        let mut archive = tar::Archive::new(input);
        let mut dir_times: Vec<(Components, i64)> = Vec::new();
        let entries = archive
            .entries()
            .map_err(|e| refused(format!("Error processing tar file: {e}")))?;
        for entry in entries {
            let mut entry =
                entry.map_err(|e| refused(format!("Error processing tar file: {e}")))?;
            let raw = entry.path_bytes().into_owned();
            let Some(inside) = within(&raw) else {
                return Err(refused(format!(
                    "{:?} is outside of {:?}",
                    String::from_utf8_lossy(&raw),
                    dest_text
                )));
            };
            let header = entry.header().clone();
            let kind = header.entry_type();
            if inside.is_empty() {
                // The destination itself: moby leaves it as it is.
                continue;
            }
            let mut full: Components = dest.to_vec();
            full.extend(inside.iter().cloned());
            let (name, parent) = full.split_last().expect("not empty");
            let parent_fd = self.ensure_dir(parent)?;
            let existing =
                nix::sys::stat::fstatat(&parent_fd, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
                    .ok();
            let path_text = display(&full);
            if let Some(st) = existing {
                if opts.no_overwrite_dir_non_dir && is_dir(&st) && !kind.is_dir() {
                    return Err(refused(format!(
                        "cannot overwrite directory {path_text:?} with non-directory {dest_text:?}"
                    )));
                }
                if opts.no_overwrite_dir_non_dir && !is_dir(&st) && kind.is_dir() {
                    return Err(refused(format!(
                        "cannot overwrite non-directory {path_text:?} with directory {dest_text:?}"
                    )));
                }
                if !(is_dir(&st) && kind.is_dir()) {
                    remove_all_at(&parent_fd, name)?;
                }
            }
            let mode = Mode::from_bits_truncate(header.mode().unwrap_or(0o644) & 0o7777);
            let mtime = header.mtime().unwrap_or(0) as i64;
            let (uid, gid) = opts.chown.unwrap_or((
                header.uid().unwrap_or(0) as u32,
                header.gid().unwrap_or(0) as u32,
            ));
            let mut chmod = true;
            match kind {
                tar::EntryType::Directory => {
                    if existing.is_none_or(|st| !is_dir(&st)) {
                        nix::sys::stat::mkdirat(&parent_fd, name.as_os_str(), Mode::S_IRWXU)
                            .map_err(io)?;
                    }
                    dir_times.push((full.clone(), mtime));
                }
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let fd = nix::fcntl::openat(
                        &parent_fd,
                        name.as_os_str(),
                        OFlag::O_CREAT
                            | OFlag::O_EXCL
                            | OFlag::O_WRONLY
                            | OFlag::O_NOFOLLOW
                            | OFlag::O_CLOEXEC,
                        Mode::S_IRUSR | Mode::S_IWUSR,
                    )
                    .map_err(io)?;
                    let mut file = std::fs::File::from(fd);
                    std::io::copy(&mut entry, &mut file).map_err(|e| {
                        if e.kind() == std::io::ErrorKind::UnexpectedEof {
                            refused(format!("Error processing tar file: {e}"))
                        } else {
                            e
                        }
                    })?;
                }
                tar::EntryType::Symlink => {
                    let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                    // A relative target is taken from the entry's directory, an absolute one
                    // from the destination, as moby checks it.
                    let from_dest = if target.starts_with(b"/") {
                        Vec::new()
                    } else {
                        inside[..inside.len() - 1]
                            .iter()
                            .map(|c| c.as_bytes().to_vec())
                            .collect()
                    };
                    if !stays_within(from_dest, &target) {
                        return Err(refused(format!(
                            "invalid symlink {path_text:?} -> {:?}",
                            String::from_utf8_lossy(&target)
                        )));
                    }
                    nix::unistd::symlinkat(
                        OsStr::from_bytes(&target),
                        &parent_fd,
                        name.as_os_str(),
                    )
                    .map_err(io)?;
                    chmod = false;
                }
                tar::EntryType::Link => {
                    let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                    let Some(target_inside) = within(&target).filter(|t| !t.is_empty()) else {
                        return Err(refused(format!(
                            "invalid hardlink {path_text:?} -> {:?}",
                            String::from_utf8_lossy(&target)
                        )));
                    };
                    let mut target_full = dest.to_vec();
                    target_full.extend(target_inside);
                    let (tname, tparent) = target_full.split_last().expect("not empty");
                    let tdir = self.open_dir_path(tparent).map_err(io)?;
                    nix::unistd::linkat(
                        &tdir,
                        tname.as_os_str(),
                        &parent_fd,
                        name.as_os_str(),
                        AtFlags::empty(),
                    )
                    .map_err(io)?;
                    chmod = false;
                }
                tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                    let kind_flag = match kind {
                        tar::EntryType::Char => SFlag::S_IFCHR,
                        tar::EntryType::Block => SFlag::S_IFBLK,
                        _ => SFlag::S_IFIFO,
                    };
                    let dev = nix::sys::stat::makedev(
                        u64::from(header.device_major().ok().flatten().unwrap_or(0)),
                        u64::from(header.device_minor().ok().flatten().unwrap_or(0)),
                    );
                    nix::sys::stat::mknodat(
                        &parent_fd,
                        name.as_os_str(),
                        kind_flag,
                        Mode::S_IRUSR | Mode::S_IWUSR,
                        dev,
                    )
                    .map_err(io)?;
                }
                tar::EntryType::XGlobalHeader => continue,
                other => {
                    return Err(refused(format!(
                        "unhandled tar header type {}",
                        other.as_byte()
                    )));
                }
            }
            nix::unistd::fchownat(
                &parent_fd,
                name.as_os_str(),
                Some(nix::unistd::Uid::from_raw(uid)),
                Some(nix::unistd::Gid::from_raw(gid)),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(io)?;
            if chmod {
                // After the chown, which clears set-id bits; through an O_PATH handle so a
                // symlink swapped in meanwhile is not followed.
                let fd = nix::fcntl::openat(
                    &parent_fd,
                    name.as_os_str(),
                    OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(io)?;
                let st = nix::sys::stat::fstat(&fd).map_err(io)?;
                if !is_symlink(&st) {
                    let via = format!("/proc/self/fd/{}", fd.as_raw_fd());
                    nix::sys::stat::fchmodat(
                        nix::fcntl::AT_FDCWD,
                        via.as_str(),
                        mode,
                        nix::sys::stat::FchmodatFlags::FollowSymlink,
                    )
                    .map_err(io)?;
                }
            }
            if !kind.is_dir() {
                set_mtime(&parent_fd, name, mtime)?;
            }
        }
        // Directory times last: writing into a directory changes its mtime.
        for (comps, mtime) in dir_times.into_iter().rev() {
            let (name, parent) = comps.split_last().expect("not empty");
            let dir = self.open_dir_path(parent).map_err(io)?;
            set_mtime(&dir, name, mtime)?;
        }
        Ok(())
    }

    /// Opens the directory at `comps`, creating missing ones (0755, root-owned) as moby
    /// does for entries whose parents the archive does not carry.
    pub fn ensure_dir(&self, comps: &[OsString]) -> std::io::Result<OwnedFd> {
        match self.open_dir_path(comps) {
            Ok(fd) => return Ok(fd),
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(io(e)),
        }
        let (last, parent) = comps.split_last().ok_or_else(|| io(Errno::ENOENT))?;
        let parent_fd = self.ensure_dir(parent)?;
        match nix::sys::stat::mkdirat(
            &parent_fd,
            last.as_os_str(),
            Mode::from_bits_truncate(0o755),
        ) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(io(e)),
        }
        self.open_dir_path(comps).map_err(io)
    }

    /// An `O_PATH` handle on a path inside the tree (every symlink followed inside it),
    /// for mounting over it through `/proc/self/fd`.
    pub fn open_path(&self, comps: &[OsString]) -> std::io::Result<OwnedFd> {
        self.open_in(comps, OFlag::O_PATH).map_err(io)
    }

    /// Makes an empty file at `comps` unless something is there (a bind mount target for
    /// a file).
    pub fn ensure_file(&self, comps: &[OsString]) -> std::io::Result<()> {
        let (last, parent) = comps.split_last().ok_or_else(|| io(Errno::EISDIR))?;
        let dir = self.ensure_dir(parent)?;
        match nix::fcntl::openat(
            &dir,
            last.as_os_str(),
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        ) {
            Ok(_) | Err(Errno::EEXIST) => Ok(()),
            Err(e) => Err(io(e)),
        }
    }

    /// Reads a small file inside the tree (`/etc/passwd`), following symlinks inside it.
    pub fn read_to_string(&self, path: &str) -> std::io::Result<String> {
        let comps = self.resolve(path, true)?;
        let fd = self.open_in(&comps, OFlag::O_RDONLY).map_err(io)?;
        std::io::read_to_string(std::fs::File::from(fd))
    }
}

/// The components of an archive entry name relative to the destination, or None when the
/// name climbs out of it (`../x`, `a/../../x`). A leading `/` is the destination itself.
fn within(name: &[u8]) -> Option<Components> {
    let mut out: Components = Vec::new();
    for part in name.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() && !name.starts_with(b"/") {
                    return None;
                }
            }
            p => out.push(OsStr::from_bytes(p).to_os_string()),
        }
    }
    Some(out)
}

/// Whether following `target` from the directory `from` (relative to the destination)
/// stays inside the destination.
fn stays_within(mut from: Vec<Vec<u8>>, target: &[u8]) -> bool {
    for part in target.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                if from.pop().is_none() {
                    return false;
                }
            }
            p => from.push(p.to_vec()),
        }
    }
    true
}

fn set_mtime(dir: &impl AsFd, name: &OsStr, mtime: i64) -> std::io::Result<()> {
    let t = nix::sys::time::TimeSpec::new(mtime, 0);
    nix::sys::stat::utimensat(
        dir,
        name,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .map_err(io)
}

/// Removes `name` in `dir` and, for a directory, everything below it, never following a
/// symlink.
fn remove_all_at(dir: &impl AsFd, name: &OsStr) -> std::io::Result<()> {
    let st = match nix::sys::stat::fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(io(e)),
    };
    if is_dir(&st) {
        let fd = nix::fcntl::openat(
            dir,
            name,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(io)?;
        for child in list(&fd)? {
            remove_all_at(&fd, &child)?;
        }
        nix::unistd::unlinkat(dir, name, nix::unistd::UnlinkatFlags::RemoveDir).map_err(io)
    } else {
        nix::unistd::unlinkat(dir, name, nix::unistd::UnlinkatFlags::NoRemoveDir).map_err(io)
    }
}

/// The names in a directory, sorted, without `.` and `..`.
fn list(dir: &OwnedFd) -> std::io::Result<Vec<OsString>> {
    let own = dir.try_clone()?;
    let mut d = nix::dir::Dir::from_fd(own).map_err(io)?;
    let mut names: Vec<OsString> = d
        .iter()
        .filter_map(|e| e.ok())
        .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_os_string())
        .filter(|n| n != "." && n != "..")
        .collect();
    names.sort();
    Ok(names)
}

fn header_for(st: &FileStat, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(u64::from(st.st_uid));
    h.set_gid(u64::from(st.st_gid));
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    h
}

/// `prefix/name` as archive names are joined: `/` + `bin` is `/bin`, `.` + `f` is `./f`.
fn child_name(prefix: &[u8], name: &OsStr) -> Vec<u8> {
    let mut out = prefix.to_vec();
    if !out.ends_with(b"/") {
        out.push(b'/');
    }
    out.extend_from_slice(name.as_bytes());
    out
}

/// A GNU long-name (or long-link) record carrying `value` for the entry after it.
fn append_long<W: Write>(
    tar: &mut tar::Builder<W>,
    kind: tar::EntryType,
    value: &[u8],
) -> std::io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    let marker = b"././@LongLink";
    h.as_old_mut().name[..marker.len()].copy_from_slice(marker);
    h.set_mode(0o644);
    h.set_size(value.len() as u64 + 1);
    h.set_cksum();
    tar.append(&h, value.chain(&[0u8][..]))
}

/// Appends one entry with its name (and link target) exactly as given: the tar crate's own
/// path handling would drop a leading `./`, which clients rebase on.
fn append_raw<W: Write>(
    tar: &mut tar::Builder<W>,
    mut h: tar::Header,
    name: &[u8],
    link: Option<&[u8]>,
    data: impl Read,
) -> std::io::Result<()> {
    let old = h.as_old_mut();
    let room = old.name.len();
    if name.len() > room {
        append_long(tar, tar::EntryType::GNULongName, name)?;
    }
    let old = h.as_old_mut();
    let n = name.len().min(room);
    old.name[..n].copy_from_slice(&name[..n]);
    if let Some(link) = link {
        let room = old.linkname.len();
        let n = link.len().min(room);
        old.linkname[..n].copy_from_slice(&link[..n]);
        if link.len() > room {
            append_long(tar, tar::EntryType::GNULongLink, link)?;
        }
    }
    h.set_cksum();
    tar.append(&h, data)
}

fn append_dir<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &[u8],
    st: &FileStat,
) -> std::io::Result<()> {
    let h = header_for(st, tar::EntryType::Directory);
    // Directories carry a trailing slash, as moby's archives do.
    let mut with_slash = name.to_vec();
    if !with_slash.ends_with(b"/") {
        with_slash.push(b'/');
    }
    append_raw(tar, h, &with_slash, None, std::io::empty())
}

/// Appends the entry `name` of `dir` under the archive name `as_name`; directories are
/// walked.
fn append_entry<W: Write>(
    tar: &mut tar::Builder<W>,
    dir: &OwnedFd,
    name: &OsStr,
    as_name: &[u8],
    links: &mut HashMap<(u64, u64), Vec<u8>>,
) -> std::io::Result<()> {
    let st = nix::sys::stat::fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(io)?;
    match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => {
            let sub = nix::fcntl::openat(
                dir,
                name,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(io)?;
            append_dir(tar, as_name, &st)?;
            walk(tar, sub, as_name, links)
        }
        libc::S_IFLNK => {
            let target = nix::fcntl::readlinkat(dir, name).map_err(io)?;
            let h = header_for(&st, tar::EntryType::Symlink);
            append_raw(tar, h, as_name, Some(target.as_bytes()), std::io::empty())
        }
        libc::S_IFREG => {
            if st.st_nlink > 1 {
                let key = (st.st_dev, st.st_ino);
                if let Some(first) = links.get(&key) {
                    let h = header_for(&st, tar::EntryType::Link);
                    return append_raw(tar, h, as_name, Some(first), std::io::empty());
                }
                links.insert(key, as_name.to_vec());
            }
            // Non-blocking, and checked again once open: a running container may have put
            // a fifo or a device node in the file's place meanwhile.
            let fd = nix::fcntl::openat(
                dir,
                name,
                OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(io)?;
            let now = nix::sys::stat::fstat(&fd).map_err(io)?;
            if now.st_mode & libc::S_IFMT != libc::S_IFREG
                || now.st_dev != st.st_dev
                || now.st_ino != st.st_ino
            {
                return Err(std::io::Error::other(format!(
                    "{} changed while it was archived",
                    String::from_utf8_lossy(as_name)
                )));
            }
            let size = st.st_size.max(0) as u64;
            let mut h = header_for(&st, tar::EntryType::Regular);
            h.set_size(size);
            // A file that shrinks while it is read (a running container) is padded, so the
            // archive stays well-formed.
            let body = std::fs::File::from(fd)
                .take(size)
                .chain(std::io::repeat(0))
                .take(size);
            append_raw(tar, h, as_name, None, body)
        }
        libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO => {
            let kind = match st.st_mode & libc::S_IFMT {
                libc::S_IFCHR => tar::EntryType::Char,
                libc::S_IFBLK => tar::EntryType::Block,
                _ => tar::EntryType::Fifo,
            };
            let mut h = header_for(&st, kind);
            if kind != tar::EntryType::Fifo {
                h.set_device_major(nix::sys::stat::major(st.st_rdev) as u32)?;
                h.set_device_minor(nix::sys::stat::minor(st.st_rdev) as u32)?;
            }
            append_raw(tar, h, as_name, None, std::io::empty())
        }
        // Sockets are left out, as moby's archives leave them.
        _ => Ok(()),
    }
}

/// Appends everything in `dir` (depth first, names sorted) under `prefix`.
fn walk<W: Write>(
    tar: &mut tar::Builder<W>,
    dir: OwnedFd,
    prefix: &[u8],
    links: &mut HashMap<(u64, u64), Vec<u8>>,
) -> std::io::Result<()> {
    for name in list(&dir)? {
        append_entry(tar, &dir, &name, &child_name(prefix, &name), links)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> (PathBuf, Confined) {
        let base = std::env::temp_dir().join(format!("berth-conf-{:08x}", rand::random::<u32>()));
        std::fs::create_dir_all(base.join("d/sub")).unwrap();
        std::fs::write(base.join("d/f"), b"hi\n").unwrap();
        std::os::unix::fs::symlink("/d", base.join("d/abs")).unwrap();
        std::os::unix::fs::symlink("f", base.join("d/rel")).unwrap();
        std::os::unix::fs::symlink("/", base.join("evil")).unwrap();
        std::os::unix::fs::symlink("../../../..", base.join("up")).unwrap();
        let c = Confined::open(&base).unwrap();
        (base, c)
    }

    #[test]
    fn paths_keep_a_trailing_slash_or_dot() {
        assert_eq!(absolute("d"), "/d");
        assert_eq!(absolute("/d/"), "/d/");
        assert_eq!(absolute("/d/."), "/d/.");
        assert_eq!(absolute("/../x/.."), "/");
        assert_eq!(base("/d/"), "d");
        assert_eq!(base("/d/."), ".");
        assert_eq!(base("/"), "/");
    }

    #[test]
    fn go_file_modes() {
        assert_eq!(go_mode(libc::S_IFDIR | 0o755), 2147484141);
        assert_eq!(go_mode(libc::S_IFLNK | 0o777), 134218239);
        assert_eq!(go_mode(libc::S_IFREG | 0o644), 420);
        assert_eq!(
            go_mode(libc::S_IFCHR | 0o666),
            (1 << 26) | (1 << 21) | 0o666
        );
    }

    #[test]
    fn symlinks_resolve_inside_the_tree() {
        let (base, c) = tree();
        let show = |p: &str, f: bool| display(&c.resolve(p, f).unwrap());
        assert_eq!(show("/d/abs", true), "/d");
        assert_eq!(show("/d/abs", false), "/d/abs");
        assert_eq!(show("/evil/d/rel", true), "/d/f");
        assert_eq!(show("/up/etc/passwd", true), "/etc/passwd");
        assert_eq!(show("/../../evil/../../x", true), "/x");
        let (st, _) = c.stat("/evil").unwrap();
        assert_eq!((st.name.as_str(), st.link_target.as_str()), ("evil", "/"));
        let (st, _) = c.stat("/d/rel").unwrap();
        assert_eq!(st.link_target, "/d/f");
        assert_eq!(
            c.stat("/up/nope").unwrap_err().kind(),
            std::io::ErrorKind::NotFound
        );
        std::fs::remove_dir_all(&base).unwrap();
    }

    fn names(tar_bytes: &[u8]) -> Vec<String> {
        let mut a = tar::Archive::new(tar_bytes);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let p = String::from_utf8_lossy(&e.path_bytes()).into_owned();
                match e.link_name_bytes() {
                    Some(l) => format!("{p} -> {}", String::from_utf8_lossy(&l)),
                    None => p,
                }
            })
            .collect()
    }

    #[test]
    fn archives_are_named_from_the_request() {
        let (base, c) = tree();
        let mut out = Vec::new();
        c.archive("/d", &mut out).unwrap();
        assert_eq!(
            names(&out),
            ["d/", "d/abs -> /d", "d/f", "d/rel -> f", "d/sub/"]
        );
        let mut out = Vec::new();
        c.archive("/d/.", &mut out).unwrap();
        assert_eq!(names(&out)[..2], ["./", "./abs -> /d"]);
        let long = "n".repeat(150);
        std::fs::write(base.join("d/sub").join(&long), b"x").unwrap();
        std::os::unix::fs::symlink(format!("/d/sub/{long}"), base.join(&long)).unwrap();
        let mut out = Vec::new();
        c.archive("/", &mut out).unwrap();
        let all = names(&out);
        assert_eq!(all[0], "/");
        assert!(all.contains(&format!("/{long} -> /d/sub/{long}")));
        assert!(all.contains(&format!("/d/sub/{long}")));
        let mut out = Vec::new();
        c.archive("/evil", &mut out).unwrap();
        assert_eq!(names(&out), ["evil -> /"]);
        let mut out = Vec::new();
        c.archive("/evil/d/f", &mut out).unwrap();
        assert_eq!(names(&out), ["f"]);
        std::fs::remove_dir_all(&base).unwrap();
    }

    fn tar_of(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, extra) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o640);
            h.set_uid(1234);
            h.set_gid(4321);
            // Names go in raw, so `..` survives (the tar crate refuses it in set_path).
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            if *kind == tar::EntryType::Regular {
                h.set_size(extra.len() as u64);
                h.set_cksum();
                b.append(&h, extra.as_bytes()).unwrap();
            } else {
                h.set_size(0);
                h.as_old_mut().linkname[..extra.len()].copy_from_slice(extra.as_bytes());
                h.set_cksum();
                b.append(&h, std::io::empty()).unwrap();
            }
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn extraction_stays_inside_the_destination_and_the_tree() {
        let (base, c) = tree();
        let outside = base.with_extension("outside");
        let dest = c.extraction_point("/d/sub").unwrap();
        let opts = ExtractOptions::default();
        let refuse = |entries: &[(&str, tar::EntryType, &str)]| {
            c.extract(&dest, &tar_of(entries)[..], &opts)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            refuse(&[("../x", tar::EntryType::Regular, "p")]),
            "\"../x\" is outside of \"/d/sub\""
        );
        assert!(
            refuse(&[("s", tar::EntryType::Symlink, "../../x")]).starts_with("invalid symlink")
        );
        assert!(refuse(&[("h", tar::EntryType::Link, "../f")]).starts_with("invalid hardlink"));
        // Through the tree's own symlinks: contained in the tree, not the host.
        let dest_root = c.extraction_point("/evil").unwrap();
        assert!(dest_root.is_empty());
        c.extract(
            &dest_root,
            &tar_of(&[
                ("up/escaped", tar::EntryType::Regular, "p"),
                ("ok/a", tar::EntryType::Regular, "data"),
                ("ok/link", tar::EntryType::Symlink, "a"),
                ("ok/hard", tar::EntryType::Link, "ok/a"),
            ])[..],
            &opts,
        )
        .unwrap();
        assert!(!outside.exists());
        assert_eq!(std::fs::read(base.join("escaped")).unwrap(), b"p");
        assert_eq!(std::fs::read(base.join("ok/hard")).unwrap(), b"data");
        use std::os::unix::fs::MetadataExt as _;
        let m = std::fs::metadata(base.join("ok/a")).unwrap();
        assert_eq!(
            (m.uid(), m.gid(), m.mode() & 0o7777, m.nlink()),
            (1234, 4321, 0o640, 2)
        );
        assert_eq!(
            c.extraction_point("/d/f").unwrap_err().kind(),
            std::io::ErrorKind::NotADirectory
        );
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn dirs_and_non_dirs_do_not_replace_each_other_when_asked() {
        let (base, c) = tree();
        let dest = c.extraction_point("/d").unwrap();
        let opts = ExtractOptions {
            no_overwrite_dir_non_dir: true,
            chown: Some((0, 0)),
        };
        let e = c
            .extract(
                &dest,
                &tar_of(&[("sub", tar::EntryType::Regular, "x")])[..],
                &opts,
            )
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        c.extract(
            &dest,
            &tar_of(&[("sub", tar::EntryType::Regular, "x")])[..],
            &ExtractOptions::default(),
        )
        .unwrap();
        assert_eq!(std::fs::read(base.join("d/sub")).unwrap(), b"x");
        std::fs::remove_dir_all(&base).unwrap();
    }
}
