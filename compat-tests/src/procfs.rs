//! Small readers over `/proc`: command lines, process state, memory, socket owners.

use std::fs;
use std::path::Path;

/// The argv of a process (empty for zombies, kernel threads and vanished processes).
pub fn cmdline(pid: u32) -> Vec<String> {
    match fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(raw) => raw
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Every process id currently listed in /proc.
pub fn all_pids() -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// The one-letter state from /proc/<pid>/stat (`R`, `S`, `Z`, ...), None if gone.
pub fn state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself contain spaces or ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    after.trim_start().chars().next()
}

/// True if the process exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    matches!(state(pid), Some(s) if s != 'Z' && s != 'X')
}

/// Processes whose executable name starts with `containerd` (containerd itself and its
/// shims) and whose command line mentions a path inside `dir`.
pub fn containerd_pids_under(dir: &Path) -> Vec<u32> {
    let dir = dir.to_string_lossy().trim_end_matches('/').to_string();
    let inside = format!("{dir}/");
    let mut pids: Vec<u32> = all_pids()
        .into_iter()
        .filter(|&pid| {
            let argv = cmdline(pid);
            let Some(exe) = argv.first() else {
                return false;
            };
            let base = exe.rsplit('/').next().unwrap_or(exe);
            base.starts_with("containerd")
                && argv.iter().any(|a| a == &dir || a.contains(&inside))
                && alive(pid)
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// Like [`containerd_pids_under`] but only the containerd daemons, not their shims.
pub fn containerd_daemons_under(dir: &Path) -> Vec<u32> {
    containerd_pids_under(dir)
        .into_iter()
        .filter(|&pid| {
            cmdline(pid)
                .first()
                .is_some_and(|exe| exe.rsplit('/').next() == Some("containerd"))
        })
        .collect()
}

/// Each process's pid, state, parent and command line, one per line (for failure messages).
pub fn describe(pids: &[u32]) -> String {
    pids.iter()
        .map(|&pid| {
            let state = state(pid).unwrap_or('-');
            format!(
                "{pid} [{state}] parent {:?}: {}",
                parent(pid),
                cmdline(pid).join(" ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The parent pid of a process.
pub fn parent(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Every descendant of `root` (children first, then theirs).
pub fn descendants(root: u32) -> Vec<u32> {
    let all = all_pids();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        let children: Vec<u32> = all
            .iter()
            .copied()
            .filter(|&c| parent(c) == Some(p) && !found.contains(&c))
            .collect();
        found.extend(children);
        i += 1;
    }
    found.remove(0);
    found
}

/// A `Name:  value kB` field of /proc/<pid>/status, in kB.
pub fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Resident set size of a process in kB.
pub fn rss_kb(pid: u32) -> Option<u64> {
    status_kb(pid, "VmRSS")
}

/// Number of CPUs this process may run on (what Go's runtime.NumCPU reports).
pub fn allowed_cpus() -> usize {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(str::trim)
        .unwrap_or("");
    let mut n = 0;
    for part in list.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                    n += b.saturating_sub(a) + 1;
                }
            }
            None => n += 1,
        }
    }
    if n == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    } else {
        n
    }
}

/// The process that listens on a unix socket path: finds the socket's inode in
/// /proc/net/unix, then the process holding that inode among its fds. Prefers the process
/// with the lowest pid if several share it (a parent that passed it to a child).
pub fn unix_socket_owner(path: &Path) -> Option<u32> {
    let want = path.to_string_lossy();
    let table = fs::read_to_string("/proc/net/unix").ok()?;
    let inodes: Vec<String> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // Num RefCount Protocol Flags Type St Inode Path
            if cols.len() >= 8 && cols[7] == want {
                // Flags 00010000 = __SO_ACCEPTCON: the listening socket.
                if cols[3] == "00010000" {
                    return Some(cols[6].to_string());
                }
            }
            None
        })
        .collect();
    if inodes.is_empty() {
        return None;
    }
    let targets: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    let mut owners: Vec<u32> = all_pids()
        .into_iter()
        .filter(|pid| {
            let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
                return false;
            };
            fds.filter_map(|e| e.ok()).any(|e| {
                fs::read_link(e.path())
                    .map(|l| targets.iter().any(|t| l.as_os_str() == t.as_str()))
                    .unwrap_or(false)
            })
        })
        .collect();
    owners.sort_unstable();
    owners.first().copied()
}
