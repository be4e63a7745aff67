//! Name resolution for endpoints berthd plumbs itself: aardvark-dns is fed the way netavark
//! feeds it (one file per network in netavark's `aardvark-dns` directory, under the same
//! lock, and a SIGHUP to reload), so containers set up by berthd and by netavark on one
//! network resolve each other through the one resolver.

use std::io::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// One container's names on one network.
pub struct Entry<'a> {
    /// The network's key in netavark's files (berthd hands netavark the network ID).
    pub network: &'a str,
    /// Where the resolver listens: the network's gateways.
    pub gateway: Ipv4Addr,
    pub gateway6: Option<Ipv6Addr>,
    pub container_id: &'a str,
    pub ip: Ipv4Addr,
    pub ip6: Option<Ipv6Addr>,
    /// Name, aliases, short ID.
    pub names: &'a [String],
}

/// aardvark-dns and its configuration directory.
pub struct Aardvark {
    pub binary: PathBuf,
    /// `<netavark config>/aardvark-dns`.
    pub dir: PathBuf,
}

impl Aardvark {
    /// Adds the container's line to the network's file (made with its header when new)
    /// and has the resolver load it, starting the resolver when none runs.
    pub async fn add(&self, e: &Entry<'_>) -> Result<()> {
        let path = self.dir.join(e.network);
        // As netavark writes them: the gateways joined by commas, and an empty field for a
        // missing IPv6 address.
        let header = match e.gateway6 {
            Some(g6) => format!("{},{g6}\n", e.gateway),
            None => format!("{}\n", e.gateway),
        };
        let ip6 = e.ip6.map(|a| a.to_string()).unwrap_or_default();
        let line = format!("{} {} {ip6} {}\n", e.container_id, e.ip, e.names.join(","));
        let lock = self.lock_path();
        tokio::task::spawn_blocking(move || -> Result<()> {
            std::fs::create_dir_all(path.parent().unwrap_or(Path::new("/")))?;
            let _held = lock_exclusive(&lock)?;
            let mut file = match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    f.write_all(header.as_bytes())?;
                    f
                }
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                    std::fs::OpenOptions::new().append(true).open(&path)?
                }
                Err(err) => return Err(err.into()),
            };
            file.write_all(line.as_bytes())?;
            Ok(())
        })
        .await
        .map_err(|_| Error::internal("the DNS entry task panicked"))??;
        self.reload(true).await
    }

    /// Takes the container's line out of the network's file (the file goes with its last
    /// line) and has a running resolver reload.
    pub async fn remove(&self, network: &str, container_id: &str) -> Result<()> {
        let path = self.dir.join(network);
        let lock = self.lock_path();
        let prefix = format!("{container_id} ");
        let changed = tokio::task::spawn_blocking(move || -> Result<bool> {
            let _held = lock_exclusive(&lock)?;
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(false),
                Err(err) => return Err(err.into()),
            };
            let mut lines = text.lines();
            let header = lines.next().unwrap_or_default();
            let kept: Vec<&str> = lines.filter(|l| !l.starts_with(&prefix)).collect();
            if kept.is_empty() {
                std::fs::remove_file(&path)?;
            } else {
                let mut out = format!("{header}\n");
                for l in kept {
                    out.push_str(l);
                    out.push('\n');
                }
                std::fs::write(&path, out)?;
            }
            Ok(true)
        })
        .await
        .map_err(|_| Error::internal("the DNS entry task panicked"))??;
        if changed {
            self.reload(false).await?;
        }
        Ok(())
    }

    /// netavark's commit lock, beside the directory.
    fn lock_path(&self) -> PathBuf {
        self.dir.with_file_name("aardvark.lock")
    }

    /// SIGHUP to the running resolver; with `start`, a new one when none runs (its `run`
    /// returns once the resolver is serving in the background).
    async fn reload(&self, start: bool) -> Result<()> {
        let pid = std::fs::read_to_string(self.dir.join("aardvark.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok());
        if let Some(pid) = pid {
            match nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGHUP,
            ) {
                Ok(()) => return Ok(()),
                Err(nix::errno::Errno::ESRCH) => {}
                Err(e) => return Err(Error::internal(format!("signalling aardvark-dns: {e}"))),
            }
        }
        if !start {
            return Ok(());
        }
        let status = tokio::process::Command::new(&self.binary)
            .arg("--config")
            .arg(&self.dir)
            .args(["-p", "53", "run"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .await
            .map_err(|e| Error::internal(format!("running {}: {e}", self.binary.display())))?;
        if !status.success() {
            return Err(Error::internal(format!("aardvark-dns run: {status}")));
        }
        Ok(())
    }
}

fn lock_exclusive(path: &Path) -> Result<nix::fcntl::Flock<std::fs::File>> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| Error::internal(format!("locking {}: {e}", path.display())))
}
