//! Facts about the host that `/info` and `/version` report, read once at start-up
//! (the kernel, the OS, CPUs, memory, cgroups, runc) and the daemon's persistent ID.

use std::path::Path;

use crate::{Error, Result};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuntimeVersion {
    pub version: String,
    pub commit: String,
}

#[derive(Clone, Debug)]
pub struct HostFacts {
    pub hostname: String,
    pub kernel_version: String,
    pub operating_system: String,
    pub os_version: String,
    /// `uname -m`, e.g. `x86_64`.
    pub architecture: String,
    pub ncpu: usize,
    pub mem_total: u64,
    /// "1" or "2".
    pub cgroup_version: String,
    pub ipv4_forwarding: bool,
    pub runc: RuntimeVersion,
}

impl HostFacts {
    pub async fn gather() -> HostFacts {
        let uts = nix::sys::utsname::uname().ok();
        let field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
            uts.as_ref()
                .map(|u| f(u).to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        let (operating_system, os_version) = parse_os_release(&os_release);
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        HostFacts {
            hostname: field(|u| u.nodename()),
            kernel_version: field(|u| u.release()),
            operating_system,
            os_version,
            architecture: field(|u| u.machine()),
            ncpu: std::thread::available_parallelism().map_or(1, |n| n.get()),
            mem_total: parse_mem_total(&meminfo),
            cgroup_version: if cgroup_v2() { "2".into() } else { "1".into() },
            ipv4_forwarding: std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
                .is_ok_and(|s| s.trim() == "1"),
            runc: runc_version().await,
        }
    }
}

/// `PRETTY_NAME` and `VERSION_ID` from os-release.
fn parse_os_release(text: &str) -> (String, String) {
    let mut pretty = String::new();
    let mut version = String::new();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim().trim_matches('"').to_string();
            match k.trim() {
                "PRETTY_NAME" => pretty = v,
                "VERSION_ID" => version = v,
                _ => {}
            }
        }
    }
    if pretty.is_empty() {
        pretty = "<unknown>".into();
    }
    (pretty, version)
}

/// `MemTotal` from /proc/meminfo, in bytes.
/// The host's memory in bytes (0 when `/proc/meminfo` cannot be read).
pub(crate) fn mem_total() -> u64 {
    parse_mem_total(&std::fs::read_to_string("/proc/meminfo").unwrap_or_default())
}

fn parse_mem_total(text: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

async fn runc_version() -> RuntimeVersion {
    match tokio::process::Command::new("runc")
        .arg("--version")
        .output()
        .await
    {
        Ok(out) => parse_runc_version(&String::from_utf8_lossy(&out.stdout)),
        Err(_) => RuntimeVersion::default(),
    }
}

/// `runc --version` prints `runc version X`, then `commit: Y`.
fn parse_runc_version(text: &str) -> RuntimeVersion {
    let mut v = RuntimeVersion::default();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("runc version ") {
            v.version = rest.trim().to_string();
        } else if let Some(rest) = line.strip_prefix("commit: ") {
            v.commit = rest.trim().to_string();
        }
    }
    v
}

pub fn ensure_dir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path)
        .map_err(|e| Error::internal(format!("cannot create {}: {e}", path.display())))
}

/// Makes `path` an empty directory: what is in it goes (an entry that cannot be removed is
/// logged and left).
pub fn empty_dir(path: &Path) -> Result<()> {
    ensure_dir(path)?;
    for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
        let p = entry.path();
        let r = match entry.file_type() {
            Ok(t) if t.is_dir() => std::fs::remove_dir_all(&p),
            _ => std::fs::remove_file(&p),
        };
        if let Err(e) = r {
            tracing::warn!("cannot remove {}: {e}", p.display());
        }
    }
    Ok(())
}

/// Writes `contents` to `path` so that a crash leaves either the old or the new file:
/// temp file, fsync, rename, fsync of the directory.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| Error::internal(format!("no parent directory for {}", path.display())))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    write_atomic_all(dir, &[(&name, contents)])
}

/// Several files of one directory, each replaced atomically (temp file, fsync, rename),
/// with one fsync of the directory for all of them. Each write has a temp name of its own,
/// so two writers of one file never write into each other's temp file; on a worker thread
/// of the runtime the fsyncs run as blocking work, so they hold up no other task.
pub fn write_atomic_all(dir: &Path, files: &[(&str, &[u8])]) -> Result<()> {
    off_the_runtime(|| {
        use std::io::Write;
        static SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        for (name, contents) in files {
            let n = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
            let written = (|| {
                let mut f = std::fs::File::create(&tmp)?;
                f.write_all(contents)?;
                f.sync_all()?;
                std::fs::rename(&tmp, dir.join(name))
            })();
            if let Err(e) = written {
                let _ = std::fs::remove_file(&tmp);
                return Err(e.into());
            }
        }
        std::fs::File::open(dir)?.sync_all()?;
        Ok(())
    })
}

/// Runs blocking file work; on a worker of a multi-threaded runtime the worker hands its
/// other tasks on first (`block_in_place`).
pub fn off_the_runtime<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

/// Whether the test hook in environment variable `var` names `point` (read once into
/// `at`). Unset, it costs one compare.
fn hook_at(at: &'static std::sync::OnceLock<Option<String>>, var: &str, point: &str) -> bool {
    at.get_or_init(|| std::env::var(var).ok()).as_deref() == Some(point)
}

/// A hook for crash tests: when `BERTH_CRASH_AT` names this point, berthd SIGKILLs itself
/// here, leaving exactly what a `kill -9` at that moment would.
pub fn crash_point(point: &str) {
    static AT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    if hook_at(&AT, "BERTH_CRASH_AT", point) {
        tracing::warn!(point, "BERTH_CRASH_AT: crashing here");
        let _ = nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGKILL);
    }
}

/// A hook for race tests: when `BERTH_PAUSE_AT` names this point, the task waits here half
/// a second, so a window that is otherwise microseconds wide is always hit.
pub async fn pause_point(point: &str) {
    static AT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    if hook_at(&AT, "BERTH_PAUSE_AT", point) {
        tracing::warn!(point, "BERTH_PAUSE_AT: pausing here");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// The daemon's ID (`/info` `ID`): generated once, then kept in the data root.
pub fn load_or_create_engine_id(data_root: &Path) -> Result<String> {
    let path = data_root.join("engine-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        let id = id.trim();
        if !id.is_empty() {
            return Ok(id.to_string());
        }
    }
    let b: [u8; 16] = rand::random();
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    // Formatted as a version-4 UUID, as current dockerd does.
    let id = format!(
        "{}-{}-4{}-{:x}{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        (b[8] & 0x3) | 0x8,
        &hex[17..20],
        &hex[20..32]
    );
    write_atomic(&path, id.as_bytes())?;
    Ok(id)
}

/// Whether the kernel accounts swap per cgroup (so a memory+swap limit can be set).
pub fn swap_limit_supported() -> bool {
    cgroup_v2() || Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists()
}

/// Whether the host runs the unified cgroup hierarchy (v2).
pub fn cgroup_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// A path from /proc/self/mountinfo, whose spaces and such are octal escapes (`\\040`).
pub fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8)
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_fields() {
        let (p, v) = parse_os_release(
            "NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\n",
        );
        assert_eq!(p, "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(v, "12");
    }

    #[test]
    fn mem_total_in_bytes() {
        assert_eq!(
            parse_mem_total("MemTotal:       24684084 kB\nMemFree: 1 kB\n"),
            24684084 * 1024
        );
    }

    #[test]
    fn runc_version_lines() {
        let v = parse_runc_version(
            "runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev\n",
        );
        assert_eq!(v.version, "1.1.5+ds1");
        assert_eq!(v.commit, "1.1.5+ds1-1+deb12u1");
    }

    #[test]
    fn engine_id_is_stable() {
        let dir = std::env::temp_dir().join(format!("berth-engine-id-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = load_or_create_engine_id(&dir).unwrap();
        let b = load_or_create_engine_id(&dir).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 36);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
