//! Calls to netavark, Podman's network tool, which makes the bridge, the veth pair, the
//! firewall rules (port forwarding, masquerading, isolation) and runs aardvark-dns for
//! networks with DNS. berthd hands it a JSON description of the container's networks on
//! stdin; it answers with the interfaces it made. Used where berthd does not plumb an
//! endpoint itself (ports published on an IPv6 host address, connecting a running
//! container that publishes ports, and taking down endpoints an earlier berthd had it
//! make); its lock also orders berthd's own edits of aardvark-dns's files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// `network_info` entries: one network as netavark sees it.
#[derive(Clone, Debug, Serialize)]
pub struct NetInfo {
    pub name: String,
    pub id: String,
    pub driver: String,
    pub network_interface: String,
    pub subnets: Vec<NetSubnet>,
    pub ipv6_enabled: bool,
    pub internal: bool,
    pub dns_enabled: bool,
    pub ipam_options: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct NetSubnet {
    pub subnet: String,
    pub gateway: String,
}

/// `networks` entries: the container's place on one network.
#[derive(Clone, Debug, Serialize)]
pub struct PerNetwork {
    pub static_ips: Vec<String>,
    pub aliases: Vec<String>,
    pub interface_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub static_mac: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PortMapping {
    pub host_ip: String,
    pub container_port: u16,
    pub host_port: u16,
    pub range: u16,
    pub protocol: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Options {
    pub container_id: String,
    pub container_name: String,
    pub port_mappings: Vec<PortMapping>,
    pub networks: BTreeMap<String, PerNetwork>,
    pub network_info: BTreeMap<String, NetInfo>,
}

impl Options {
    /// A container's options with no network yet.
    pub fn new(
        container_id: &str,
        container_name: &str,
        port_mappings: Vec<PortMapping>,
    ) -> Options {
        Options {
            container_id: container_id.to_string(),
            container_name: container_name.trim_start_matches('/').to_string(),
            port_mappings,
            networks: BTreeMap::new(),
            network_info: BTreeMap::new(),
        }
    }

    /// Puts the container on one more network, keyed by the network's netavark name.
    pub fn add(&mut self, network: NetInfo, member: PerNetwork) {
        self.networks.insert(network.name.clone(), member);
        self.network_info.insert(network.name.clone(), network);
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Status {
    #[serde(default)]
    pub interfaces: BTreeMap<String, Interface>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Interface {
    #[serde(default)]
    pub mac_address: String,
}

pub struct Netavark {
    binary: PathBuf,
    aardvark: PathBuf,
    config: PathBuf,
    /// One netavark at a time: concurrent runs race to create the same iptables chains.
    lock: tokio::sync::Mutex<()>,
}

/// Where Debian (and Fedora) install Podman's helpers.
const DIRS: [&str; 3] = [
    "/usr/lib/podman",
    "/usr/libexec/podman",
    "/usr/local/libexec/podman",
];

fn find(name: &str) -> Option<PathBuf> {
    DIRS.iter()
        .map(|d| Path::new(d).join(name))
        .chain(
            std::env::var_os("PATH")
                .map(|p| {
                    std::env::split_paths(&p)
                        .map(|d| d.join(name))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default(),
        )
        .find(|p| p.is_file())
}

impl Netavark {
    /// netavark and aardvark-dns from the usual places; `config` holds aardvark's state.
    pub fn locate(config: PathBuf) -> Option<Netavark> {
        let _ = std::fs::create_dir_all(&config);
        Some(Netavark {
            binary: find("netavark")?,
            aardvark: find("aardvark-dns")?,
            config,
            lock: tokio::sync::Mutex::new(()),
        })
    }

    /// Runs netavark; a failure that another netavark on this host (another daemon's)
    /// caused by creating the same chain at the same moment is retried.
    async fn call(&self, verb: &str, netns: &Path, opts: &Options) -> Result<String> {
        let _one = self.lock.lock().await;
        // And one at a time on this host: other daemons' netavarks edit the same iptables
        // chains (test daemons run side by side).
        let _host = host_lock().await;
        let mut attempt = 0;
        loop {
            match self.call_once(verb, netns, opts).await {
                Err(e)
                    if attempt < 4
                        && (e.message.contains("already exists")
                            || e.message.contains("xtables lock")) =>
                {
                    attempt += 1;
                    // Undo whatever the failed setup made before trying again.
                    if verb == "setup" {
                        let _ = self.call_once("teardown", netns, opts).await;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50 * attempt)).await;
                }
                other => return other,
            }
        }
    }

    async fn call_once(&self, verb: &str, netns: &Path, opts: &Options) -> Result<String> {
        use tokio::io::AsyncWriteExt as _;
        let input = serde_json::to_vec(opts).map_err(|e| Error::internal(e.to_string()))?;
        let mut child = tokio::process::Command::new(&self.binary)
            .arg("--config")
            .arg(&self.config)
            .arg("--aardvark-binary")
            .arg(&self.aardvark)
            .arg(verb)
            .arg(netns)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| Error::internal(format!("running {}: {e}", self.binary.display())))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(&input).await?;
        }
        let out = child.wait_with_output().await?;
        if !out.status.success() {
            // netavark reports failures as `{"error": "..."}` on stdout.
            let said: Option<String> = serde_json::from_slice::<serde_json::Value>(&out.stdout)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string));
            let text = said.unwrap_or_else(|| {
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .filter(|l| !l.contains("failed to connect to syslog"))
                    .collect::<Vec<_>>()
                    .join("; ")
            });
            return Err(Error::internal(format!("netavark {verb}: {}", text.trim())));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Puts the container's namespace on its networks; answers per network.
    pub async fn setup(&self, netns: &Path, opts: &Options) -> Result<BTreeMap<String, Status>> {
        let out = self.call("setup", netns, opts).await?;
        serde_json::from_str(&out)
            .map_err(|e| Error::internal(format!("netavark setup answered {out:?}: {e}")))
    }

    /// The resolver's entry for an endpoint berthd plumbed itself; taken in turn with
    /// netavark's runs, which edit the same files and may start the same resolver.
    pub async fn dns_add(&self, entry: &super::aardvark::Entry<'_>) -> Result<()> {
        let _one = self.lock.lock().await;
        self.aardvark().add(entry).await
    }

    /// Takes out what [`Netavark::dns_add`] put in.
    pub async fn dns_remove(&self, network: &str, container_id: &str) -> Result<()> {
        let _one = self.lock.lock().await;
        self.aardvark().remove(network, container_id).await
    }

    fn aardvark(&self) -> super::aardvark::Aardvark {
        super::aardvark::Aardvark {
            binary: self.aardvark.clone(),
            dir: self.config.join("aardvark-dns"),
        }
    }

    /// Undoes [`Netavark::setup`] for the networks in `opts`.
    pub async fn teardown(&self, netns: &Path, opts: &Options) -> Result<()> {
        self.call("teardown", netns, opts).await.map(|_| ())
    }
}

/// A host-wide lock on netavark runs (flock on a file in /run/lock); None when it cannot be
/// had, which only loses the cross-daemon ordering.
async fn host_lock() -> Option<nix::fcntl::Flock<std::fs::File>> {
    tokio::task::spawn_blocking(|| {
        let dir = Path::new("/run/lock");
        let dir = if dir.is_dir() {
            dir.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("berth-netavark.lock"))
            .ok()?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).ok()
    })
    .await
    .ok()
    .flatten()
}
