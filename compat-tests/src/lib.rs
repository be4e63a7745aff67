//! Black-box compatibility harness for berthd.
//!
//! Every test asks [`daemon()`] for a [`Daemon`]. With `BERTH_COMPAT_DOCKER_HOST` set (for
//! example `unix:///tmp/ref/docker.sock`) that is an existing daemon, typically a real dockerd
//! used to prove that a test encodes Docker's behaviour; otherwise a fresh berthd is booted in
//! its own temporary directory (with its embedded containerd) and torn down when the handle
//! drops. Tests talk to it through raw HTTP ([`http`]) or the stock `docker` CLI ([`cli`]).
//!
//! Environment:
//! - `BERTH_COMPAT_DOCKER_HOST=unix:///path`: test that daemon; boot nothing. Tests that must
//!   signal or restart the daemon skip themselves.
//! - `BERTH_BIN=/path/to/berthd`: the binary to boot (default `target/debug/berthd`).
//!   When its file name starts with `dockerd` the owned daemons are private real dockerds
//!   (see [`Daemon::start_berthd`]): that is how `scripts/compat` checks what the tests
//!   encode against Docker itself.
//! - `BERTH_COMPAT_EXTRA_ARGS="..."`: extra flags for every booted daemon.
//! - `BERTH_COMPAT_SKIP_LOG=/path`: every test that skips itself appends
//!   `binary::test<TAB>reason` to this file, so a runner can count skips apart from passes.
//! - `BERTH_COMPAT_KEEP=1`: keep each daemon's temp dir (logs, data root) after the test.
//! - `BERTH_COMPAT_DOCKER_CLI=/path/to/docker`: the CLI to run (default `docker` on PATH).

pub mod cli;
pub mod expect;
pub mod fixtures;
pub mod http;
pub mod procfs;
pub mod registry;

use std::cmp::Ordering;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering as AtomicOrdering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

pub use http::{Response, Stream};

/// Env var naming an existing daemon to test instead of booting berthd.
pub const ENV_DOCKER_HOST: &str = "BERTH_COMPAT_DOCKER_HOST";
/// Env var naming the berthd binary to boot.
pub const ENV_BIN: &str = "BERTH_BIN";
/// Env var with extra whitespace-separated flags for every booted daemon.
pub const ENV_EXTRA_ARGS: &str = "BERTH_COMPAT_EXTRA_ARGS";
/// Env var naming a file where tests that skip themselves record it (see [`skip`]).
pub const ENV_SKIP_LOG: &str = "BERTH_COMPAT_SKIP_LOG";

/// How long a booting berthd may take to answer `/_ping`.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a terminating berthd may take before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// The daemon under test: either berthd booted for this test or an external one.
pub struct Daemon {
    host: String,
    socket: PathBuf,
    /// Temp directory: the owned daemon's whole world, or just scratch space (the CLI's
    /// config directory) for an external daemon. Removed on drop.
    dir: PathBuf,
    child: Option<Child>,
    exit: Option<ExitStatus>,
    pid: Option<u32>,
    bin: Option<PathBuf>,
    /// `--bridge` and `--bip` of an owned daemon: its own default bridge, so daemons of
    /// tests running side by side never share a bridge or a subnet.
    bridge_args: Vec<String>,
    /// An owned dockerd rather than berthd (`BERTH_BIN` names a dockerd).
    dockerd: bool,
    /// The bridge device the harness made for an owned dockerd (deleted on drop).
    made_bridge: Option<String>,
    /// The address-pool range reserved for an owned dockerd (released on drop).
    pool: Option<PoolLease>,
    /// Test hooks for the next spawn only: `BERTH_CRASH_AT` or `BERTH_PAUSE_AT` with the
    /// point it names (see [`Daemon::restart_crashing_at`], [`Daemon::restart_pausing_at`]).
    hook: Option<(&'static str, String)>,
}

/// A whole disk of this host (`/dev/vda`, `/dev/sda`...), for block device limits.
pub fn host_disk() -> Option<String> {
    let mut disks: Vec<String> = fs::read_dir("/sys/block")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| {
            !["loop", "ram", "zram", "nbd", "sr", "md", "dm-"]
                .iter()
                .any(|p| n.starts_with(p))
        })
        .filter(|n| Path::new(&format!("/dev/{n}")).exists())
        .collect();
    disks.sort();
    disks.into_iter().next().map(|n| format!("/dev/{n}"))
}

/// Builds (or finds, from the same recipe) the offline service images on `d` with
/// `scripts/service-images`: `berth-services/{redis,postgres,nginx,app}:1`.
pub fn build_service_images(d: &Daemon) {
    let out = Command::new(workspace_root().join("scripts/service-images"))
        .env("DOCKER_HOST", d.docker_host())
        .env_remove("DOCKER_CONTEXT")
        .output()
        .expect("scripts/service-images runs");
    assert!(
        out.status.success(),
        "scripts/service-images failed\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A plain HTTP/1.0 GET of `path` on 127.0.0.1:`port`, retried for up to 10 s until it
/// answers 200; the whole response, head included.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
            let _ = s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes());
            let mut body = String::new();
            if s.read_to_string(&mut body).is_ok() && body.contains(" 200 ") {
                return Some(body);
            }
        }
        thread::sleep(Duration::from_millis(100));
    }
    None
}

/// How many lines the payloads of a multiplexed (stdcopy) stream hold.
pub fn stdcopy_lines(stream: &[u8]) -> usize {
    let mut lines = 0;
    let mut rest = stream;
    while rest.len() >= 8 {
        let size = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        let end = (8 + size).min(rest.len());
        lines += rest[8..end].iter().filter(|b| **b == b'\n').count();
        rest = &rest[end..];
    }
    lines
}

/// Records that the running test skips itself: prints why, and appends
/// `binary::test<TAB>why` to `$BERTH_COMPAT_SKIP_LOG` when set, so that a runner counts the
/// test as skipped rather than passed. The test returns right after.
pub fn skip(why: &str) {
    let test = thread::current()
        .name()
        .filter(|n| *n != "main")
        .unwrap_or("?")
        .to_string();
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|stem| match stem.rsplit_once('-') {
            Some((name, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => name.to_string(),
            _ => stem,
        })
        .unwrap_or_else(|| "?".into());
    eprintln!("berth-compat: skipped {binary}::{test}: {why}");
    if let Some(path) = std::env::var_os(ENV_SKIP_LOG) {
        use std::io::Write;
        if let Ok(mut f) = File::options().create(true).append(true).open(path) {
            let _ = writeln!(f, "{binary}::{test}\t{}", why.replace(['\n', '\t'], " "));
        }
    }
}

/// True when `bin` is a dockerd (its file name starts with `dockerd`), not berthd.
pub fn is_dockerd_binary(bin: &Path) -> bool {
    bin.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("dockerd"))
}

/// True when owned daemons are real dockerds (`BERTH_BIN` names a dockerd).
pub fn owned_daemons_are_dockerd() -> bool {
    !external_daemon() && is_dockerd_binary(&berthd_binary())
}

/// One of the `10.200.0.0/16` … `10.254.0.0/16` ranges, reserved for one owned daemon's
/// user-defined networks (`--default-address-pool`; see [`Daemon::lease_address_pool`]). A
/// reservation is a file holding the reserving process id, under the temp dir; reservations
/// of dead processes are taken over.
struct PoolLease {
    second_octet: u32,
    path: PathBuf,
}

impl PoolLease {
    fn take() -> PoolLease {
        use std::io::Write;
        static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let dir = std::env::temp_dir().join("bct-pools");
        let _ = fs::create_dir_all(&dir);
        for second_octet in 200..=254 {
            let path = dir.join(second_octet.to_string());
            for _ in 0..2 {
                match File::options().write(true).create_new(true).open(&path) {
                    Ok(mut f) => {
                        let _ = write!(f, "{}", std::process::id());
                        return PoolLease { second_octet, path };
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        let holder = fs::read_to_string(&path)
                            .ok()
                            .and_then(|s| s.trim().parse::<u32>().ok());
                        if holder.is_some_and(procfs::alive) {
                            break;
                        }
                        let _ = fs::remove_file(&path);
                    }
                    Err(e) => panic!("cannot reserve an address pool in {}: {e}", dir.display()),
                }
            }
        }
        panic!(
            "every dockerd address pool under {} is taken",
            dir.display()
        );
    }
}

impl Drop for PoolLease {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Runs `ip` with `args`; panics with its stderr when it fails.
fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ip: {e}"));
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Containers on bridge networks must reach only this host and the namespaces tests made:
/// anything forwarded out of the uplink (the default route's interface) is dropped in the
/// mangle table, which no ACCEPT rule a network stack adds to filter/FORWARD can bypass.
/// Installed once, idempotently; `scripts/test` removes it when the suite ends.
pub fn ensure_containment_guard() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Some(uplink) = uplink() else {
            return;
        };
        for tool in ["iptables", "ip6tables"] {
            let rule = ["-t", "mangle", "FORWARD", "-o", &uplink, "-j", "DROP"];
            let present = Command::new(tool)
                .args(["-t", "mangle", "-C"])
                .args(&rule[2..])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !present {
                let _ = Command::new(tool)
                    .args(["-t", "mangle", "-I"])
                    .args(&rule[2..])
                    .stderr(Stdio::null())
                    .status();
            }
        }
    });
}

/// The interface of the host's default route.
fn uplink() -> Option<String> {
    fs::read_to_string("/proc/net/route")
        .ok()?
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.get(1) == Some(&"00000000"))
        .map(|f| f[0].to_string())
}

/// The daemon for one test: an external one if `BERTH_COMPAT_DOCKER_HOST` is set, else a
/// freshly booted berthd.
pub fn daemon() -> Daemon {
    match std::env::var(ENV_DOCKER_HOST) {
        Ok(host) if !host.trim().is_empty() => Daemon::external(host.trim()),
        _ => Daemon::start_berthd(&[]),
    }
}

/// True when tests run against an external daemon rather than a berthd they boot.
pub fn external_daemon() -> bool {
    std::env::var(ENV_DOCKER_HOST).is_ok_and(|h| !h.trim().is_empty())
}

/// The workspace root (parent of this crate).
pub fn workspace_root() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    dir.parent().unwrap_or(dir).to_path_buf()
}

/// The berthd binary: `$BERTH_BIN`, else `$CARGO_TARGET_DIR/debug/berthd`, else
/// `<workspace>/target/debug/berthd`.
pub fn berthd_binary() -> PathBuf {
    if let Ok(bin) = std::env::var(ENV_BIN) {
        return PathBuf::from(bin);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join("target"));
    target.join("debug").join("berthd")
}

/// A bridge device the harness made for a daemon it starts; deleted on drop.
pub struct HarnessBridge(String);

impl HarnessBridge {
    /// A fresh bridge device `name` holding `address` (CIDR), up.
    fn make(name: &str, address: &str) -> HarnessBridge {
        let _ = Command::new("ip")
            .args(["link", "del", name])
            .stderr(Stdio::null())
            .status();
        ip(&["link", "add", name, "type", "bridge"]);
        let bridge = HarnessBridge(name.to_string());
        ip(&["addr", "add", address, "dev", name]);
        ip(&["link", "set", name, "up"]);
        bridge
    }
}

impl Drop for HarnessBridge {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.0])
            .stderr(Stdio::null())
            .status();
    }
}

/// A bare command for `bin` (berthd or dockerd) for tests that start a daemon by hand, for
/// instance to see it refuse its flags: the containment proxy variables and, for a dockerd,
/// flags that keep it off the host's firewall and bridges (`--iptables=false
/// --ip6tables=false`, and a bridge device of its own, returned to be kept while it runs:
/// `--bridge=none` would make dockerd delete the host's `docker0`). The caller adds the
/// roots, pidfile and its own flags.
pub fn bare_daemon_command(bin: &Path) -> (Command, Option<HarnessBridge>) {
    let mut cmd = Command::new(bin);
    cmd.env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("NO_PROXY", "127.0.0.1,localhost,::1");
    if !is_dockerd_binary(bin) {
        return (cmd, None);
    }
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, AtomicOrdering::SeqCst);
    let name = format!("btb{}-{n}", std::process::id() % 10000);
    // 198.18.0.0/15 is for benchmarking: never a real network's.
    let octet = (std::process::id() + n) % 250;
    let bridge = HarnessBridge::make(&name, &format!("198.19.{octet}.1/24"));
    cmd.args(["--iptables=false", "--ip6tables=false", "--bridge", &name]);
    (cmd, Some(bridge))
}

/// A new, unique, empty directory under the system temp dir.
pub fn unique_temp_dir(prefix: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, AtomicOrdering::SeqCst);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("{prefix}-{}-{n}-{nanos}", std::process::id()));
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// A [`unique_temp_dir`] removed when dropped, whether the test passes or panics.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        TempDir(unique_temp_dir(prefix))
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `unix:///path` → `/path`. Panics on other schemes (only unix sockets are supported).
pub fn socket_from_host(host: &str) -> PathBuf {
    match host.strip_prefix("unix://") {
        Some(path) => PathBuf::from(path),
        None if host.starts_with('/') => PathBuf::from(host),
        None => panic!("only unix:// daemon hosts are supported, got {host:?}"),
    }
}

/// Parses an API version such as `1.41` into numeric components.
pub fn parse_api_version(v: &str) -> Vec<u64> {
    v.trim()
        .split('.')
        .map(|p| {
            p.parse()
                .unwrap_or_else(|_| panic!("bad API version {v:?}"))
        })
        .collect()
}

/// Compares API versions numerically per dot segment (`1.4` < `1.40`), as moby does.
pub fn compare_api_versions(a: &str, b: &str) -> Ordering {
    let (a, b) = (parse_api_version(a), parse_api_version(b));
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (
            a.get(i).copied().unwrap_or(0),
            b.get(i).copied().unwrap_or(0),
        );
        match x.cmp(&y) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    Ordering::Equal
}

/// The exact bytes moby writes for a JSON error: `{"message":"..."}` and a newline.
pub fn json_error_body(message: &str) -> String {
    format!("{}\n", serde_json::json!({ "message": message }))
}

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Polls `cond` every 50 ms until it returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

impl Daemon {
    /// A handle on an existing daemon; nothing is started or stopped.
    pub fn external(host: &str) -> Daemon {
        let socket = socket_from_host(host);
        let dir = unique_temp_dir("bct-ext");
        Daemon {
            host: format!("unix://{}", socket.display()),
            socket,
            dir,
            child: None,
            exit: None,
            pid: None,
            bin: None,
            bridge_args: vec![],
            dockerd: false,
            made_bridge: None,
            pool: None,
            hook: None,
        }
    }

    /// Boots berthd in a fresh temp directory with `extra_args` appended to the standard
    /// flags, and waits until `/_ping` answers 200. Panics with the daemon log on failure.
    pub fn start_berthd(extra_args: &[&str]) -> Daemon {
        let bin = berthd_binary();
        assert!(
            bin.exists(),
            "berthd binary {} does not exist: build it (cargo build -p berth-api), set {ENV_BIN}, \
             or set {ENV_DOCKER_HOST} to test an existing daemon",
            bin.display()
        );
        let dir = unique_temp_dir("bct");
        let socket = dir.join("berth.sock");
        ensure_containment_guard();
        static DAEMONS: AtomicU32 = AtomicU32::new(0);
        let n = DAEMONS.fetch_add(1, AtomicOrdering::SeqCst);
        let pid = std::process::id();
        let bridge = format!("bt{}-{n}", pid % 10000);
        let bip = format!("10.{}.{}.1/24", 100 + pid % 100, n % 256);
        let dockerd = is_dockerd_binary(&bin);
        let mut d = Daemon {
            host: format!("unix://{}", socket.display()),
            socket,
            dir,
            child: None,
            exit: None,
            pid: None,
            bin: Some(bin),
            bridge_args: vec![
                "--bridge".into(),
                bridge.clone(),
                "--bip".into(),
                bip.clone(),
            ],
            dockerd,
            made_bridge: None,
            pool: None,
            hook: None,
        };
        if dockerd {
            d.prepare_dockerd(&bridge, &bip, extra_args);
        }
        d.lease_address_pool(extra_args);
        d.spawn(extra_args);
        d.wait_ready(BOOT_TIMEOUT);
        d
    }

    /// Readies an owned dockerd's world, which dockerd does not make itself:
    /// - its default bridge: dockerd refuses `--bridge` with `--bip` and wants an existing
    ///   device for `--bridge`, so the harness makes the device with the address and passes
    ///   only `--bridge` (each daemon gets its own device and subnet, as berthd does);
    /// - `--iptables=false --ip6tables=false`: the tests change no firewall rules of the host
    ///   (the mangle-table guard keeps containers off the uplink);
    /// - `--live-restore`, which berthd always does;
    /// - an empty `--config-file` (unless the test gives one): `/etc/docker/daemon.json`
    ///   must not leak in;
    /// - its own containerd: dockerd 20.10 starts one under its exec root only when the
    ///   system containerd's socket is absent, so that socket must not exist.
    fn prepare_dockerd(&mut self, bridge: &str, bip: &str, extra_args: &[&str]) {
        let system_containerd = Path::new("/run/containerd/containerd.sock");
        assert!(
            !system_containerd.exists(),
            "{} exists: dockerd would use that containerd instead of starting its own",
            system_containerd.display()
        );
        let _ = Command::new("ip")
            .args(["link", "del", bridge])
            .stderr(Stdio::null())
            .status();
        ip(&["link", "add", bridge, "type", "bridge"]);
        self.made_bridge = Some(bridge.to_string());
        ip(&["addr", "add", bip, "dev", bridge]);
        ip(&["link", "set", bridge, "up"]);
        let mut all: Vec<String> = extra_args.iter().map(|a| a.to_string()).collect();
        all.extend(self.env_extra_args());
        let given = |flag: &str| {
            all.iter()
                .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
        };
        // berthd always keeps containers running across its own restarts; dockerd does
        // with --live-restore.
        let mut args: Vec<String> = vec![
            "--bridge".into(),
            bridge.into(),
            "--iptables=false".into(),
            "--ip6tables=false".into(),
            "--live-restore".into(),
        ];
        if !given("--config-file") {
            let file = self.dir.join("daemon.json");
            fs::write(&file, "{}\n").expect("write daemon.json");
            args.push("--config-file".into());
            args.push(file.display().to_string());
        }
        self.bridge_args = args;
    }

    /// `--default-address-pool` from a reserved range (unless the test gives one), so that
    /// user-defined networks of daemons side by side never overlap. dockerd does not avoid
    /// the host's routes when it picks a subnet; berthd does, but a network's bridge (and
    /// its route) appears only when its first container starts, so two berthds creating
    /// networks at once could both pick the same free subnet.
    fn lease_address_pool(&mut self, extra_args: &[&str]) {
        let mut all: Vec<String> = extra_args.iter().map(|a| a.to_string()).collect();
        all.extend(self.env_extra_args());
        if all
            .iter()
            .any(|a| a == "--default-address-pool" || a.starts_with("--default-address-pool="))
        {
            return;
        }
        let lease = PoolLease::take();
        self.bridge_args.push("--default-address-pool".into());
        self.bridge_args
            .push(format!("base=10.{}.0.0/16,size=24", lease.second_octet));
        self.pool = Some(lease);
    }

    /// The flags of `$BERTH_COMPAT_EXTRA_ARGS`.
    fn env_extra_args(&self) -> Vec<String> {
        std::env::var(ENV_EXTRA_ARGS)
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    /// True when this handle booted a real dockerd rather than berthd.
    pub fn is_dockerd(&self) -> bool {
        self.dockerd
    }

    /// Starts berthd in this daemon's directory (its data root, exec root and socket).
    fn spawn(&mut self, extra_args: &[&str]) {
        let bin = self.bin.clone().expect("an owned daemon");
        let dir = self.dir.clone();
        let log = File::options()
            .create(true)
            .append(true)
            .open(dir.join("berthd.log"))
            .expect("open berthd.log");
        let mut cmd = Command::new(&bin);
        // Containment: anything the daemon tries to fetch from outside fails at once on a
        // closed loopback port; loopback registries stay reachable.
        cmd.env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env("HTTP_PROXY", "http://127.0.0.1:9")
            .env("NO_PROXY", "127.0.0.1,localhost,::1");
        if let Some((var, point)) = &self.hook {
            cmd.env(var, point);
        }
        cmd.arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("berthd.pid"))
            .args(&self.bridge_args)
            .args(extra_args)
            .args(self.env_extra_args())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log fd"))
            .stderr(log);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        self.pid = Some(child.id());
        self.child = Some(child);
        self.exit = None;
    }

    /// Ends an owned berthd (SIGTERM, or SIGKILL for a crash) and starts a new one on the
    /// same data root, waiting until it answers. Containers keep running meanwhile (live
    /// restore), so the new daemon must pick them up.
    pub fn restart(&mut self, crash: bool) {
        assert!(self.owned(), "only an owned daemon can be restarted");
        self.signal(if crash {
            Signal::SIGKILL
        } else {
            Signal::SIGTERM
        });
        assert!(
            self.wait_exit(Duration::from_secs(30)).is_some(),
            "berthd did not exit\n{}",
            self.log()
        );
        self.restart_stopped();
    }

    /// Starts berthd again on the same data root after it exited, and waits until it answers.
    /// Restarts an owned berthd with `BERTH_CRASH_AT=point`: it SIGKILLs itself when it
    /// reaches that point (engine's `system::crash_point`). Its next restart is a plain one.
    pub fn restart_crashing_at(&mut self, point: &str) {
        self.restart_with_hook("BERTH_CRASH_AT", point);
    }

    /// Restarts an owned berthd with `BERTH_PAUSE_AT=point`: it waits a moment each time
    /// it passes that point (engine's `system::pause_point`), widening a race's window.
    pub fn restart_pausing_at(&mut self, point: &str) {
        self.restart_with_hook("BERTH_PAUSE_AT", point);
    }

    fn restart_with_hook(&mut self, var: &'static str, point: &str) {
        self.stop(STOP_TIMEOUT);
        self.hook = Some((var, point.to_string()));
        self.spawn(&[]);
        self.hook = None;
        self.wait_ready(BOOT_TIMEOUT);
    }

    pub fn restart_stopped(&mut self) {
        assert!(self.exit.is_some(), "berthd is still running");
        self.spawn(&[]);
        self.wait_ready(BOOT_TIMEOUT);
    }

    fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut last = String::from("no attempt yet");
        loop {
            if let Some(status) = self.try_wait() {
                panic!(
                    "berthd exited during start-up ({status})\n--- berthd.log\n{}",
                    self.log()
                );
            }
            if self.socket.exists() {
                let mut conn = match http::Conn::connect(&self.socket) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        last = format!("connect: {e}");
                        None
                    }
                };
                if let Some(conn) = conn.as_mut() {
                    conn.timeout = Duration::from_secs(5);
                    match conn.request("GET", "/_ping", &[], b"") {
                        Ok(r) if r.status == 200 => return,
                        Ok(r) => last = format!("/_ping answered {}", r.status),
                        Err(e) => last = format!("/_ping: {e}"),
                    }
                }
            } else {
                last = "socket not created yet".into();
            }
            if Instant::now() >= deadline {
                panic!(
                    "berthd did not answer /_ping within {timeout:?} ({last})\n--- berthd.log\n{}",
                    self.log()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// `unix:///.../sock`, for DOCKER_HOST.
    pub fn docker_host(&self) -> String {
        self.host.clone()
    }

    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// True if this handle booted the daemon (and so may signal, restart or inspect it).
    pub fn owned(&self) -> bool {
        self.child.is_some() || self.exit.is_some()
    }

    /// Prints why a test is skipped and returns true when the daemon is not owned.
    pub fn skip_unless_owned(&self, why: &str) -> bool {
        if !self.owned() {
            skip(&format!("against external daemon {}: {why}", self.host));
        }
        !self.owned()
    }

    /// The berthd process id (owned daemons only).
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// The berthd binary booted (owned daemons only).
    pub fn bin(&self) -> Option<&Path> {
        self.bin.as_deref()
    }

    /// The temp directory of this handle.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `--data-root` of an owned daemon.
    pub fn data_root(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// `--exec-root` of an owned daemon.
    pub fn exec_root(&self) -> PathBuf {
        self.dir.join("exec")
    }

    /// Runs `ctr` against an owned daemon's own containerd, in its namespace (`berth`, or
    /// `moby` for a dockerd), and
    /// returns its output (a failing `ctr` fails the test).
    pub fn ctr(&self, args: &[&str]) -> String {
        let sock = self.exec_root().join("containerd").join("containerd.sock");
        let out = Command::new("ctr")
            .arg("-a")
            .arg(&sock)
            .args(["-n", if self.dockerd { "moby" } else { "berth" }])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run ctr: {e}"));
        assert!(
            out.status.success(),
            "ctr {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `--pidfile` of an owned daemon.
    pub fn pidfile(&self) -> PathBuf {
        self.dir.join("berthd.pid")
    }

    /// Everything the owned daemon wrote to stdout/stderr so far ("" if not owned).
    pub fn log(&self) -> String {
        fs::read(self.dir.join("berthd.log"))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The exit status if the owned berthd has exited (reaping it).
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none()
            && let Some(child) = self.child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            self.exit = Some(status);
            self.child = None;
        }
        self.exit
    }

    /// Sends a signal to the owned berthd (only to it).
    pub fn signal(&self, sig: Signal) {
        let pid = self.pid.expect("signal() needs an owned daemon");
        assert!(self.exit.is_none(), "berthd already exited");
        kill(Pid::from_raw(pid as i32), sig).unwrap_or_else(|e| panic!("kill -{sig} {pid}: {e}"));
    }

    /// Waits up to `timeout` for the owned berthd to exit on its own.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.try_wait() {
                return Some(st);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(25));
        }
    }

    /// SIGTERM, then wait up to `timeout`. Returns the exit status, or None if berthd had to
    /// be killed with SIGKILL (or was not owned).
    pub fn stop(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if let Some(st) = self.exit {
            return Some(st);
        }
        self.child.as_ref()?;
        self.signal(Signal::SIGTERM);
        if let Some(st) = self.wait_exit(timeout) {
            return Some(st);
        }
        eprintln!(
            "berthd (pid {:?}) did not exit within {timeout:?} of SIGTERM; killing it",
            self.pid
        );
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            if let Ok(st) = child.wait() {
                self.exit = Some(st);
            }
        }
        let left = procfs::containerd_pids_under(&self.dir);
        if !left.is_empty() {
            eprintln!("warning: containerd processes left behind by berthd: {left:?}");
        }
        None
    }

    // ---- raw HTTP ----

    /// One request on a fresh connection; panics (with the daemon log) on transport errors.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        http::request(&self.socket, method, path, headers, body).unwrap_or_else(|e| {
            panic!(
                "{method} {path} on {}: {e}\n--- berthd.log\n{}",
                self.host,
                self.log()
            )
        })
    }

    /// Like [`Daemon::request`] but returns transport errors.
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Response> {
        http::request(&self.socket, method, path, headers, body)
    }

    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], b"")
    }

    pub fn head(&self, path: &str) -> Response {
        self.request("HEAD", path, &[], b"")
    }

    /// GET and parse the body as JSON.
    pub fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self.get(path);
        let v = r.json();
        (r.status, v)
    }

    /// POST a JSON body.
    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> Response {
        let bytes = serde_json::to_vec(body).expect("serialize body");
        self.request(
            "POST",
            path,
            &[("Content-Type", "application/json")],
            &bytes,
        )
    }

    /// Opens a streaming GET (e.g. `/events?...`) and returns once headers have arrived.
    pub fn stream(&self, path: &str, header_timeout: Duration) -> Stream {
        Stream::open(&self.socket, "GET", path, &[], b"", header_timeout).unwrap_or_else(|e| {
            panic!(
                "GET {path} on {}: {e}\n--- berthd.log\n{}",
                self.host,
                self.log()
            )
        })
    }

    /// The API version the server advertises (`Api-Version` of `/_ping`).
    pub fn max_api_version(&self) -> String {
        let r = self.get("/_ping");
        r.header("Api-Version")
            .unwrap_or_else(|| panic!("/_ping has no Api-Version header\n{}", r.describe()))
            .to_string()
    }

    /// `MinAPIVersion` from unversioned `GET /version`.
    pub fn min_api_version(&self) -> String {
        let (status, v) = self.get_json("/version");
        assert_eq!(status, 200, "GET /version: {v}");
        v["MinAPIVersion"]
            .as_str()
            .unwrap_or_else(|| panic!("/version has no MinAPIVersion: {v}"))
            .to_string()
    }

    // ---- the docker CLI ----

    /// Loads a fixture image unique to `name` (its own image ID) under
    /// `berth-test/busybox:<name>` and returns that tag.
    pub fn load_test_image(&self, name: &str) -> String {
        let image = fixtures::test_image(name);
        let tag = format!("berth-test/busybox:{name}");
        let archive = image.docker_archive(&[&tag]);
        let out = self.docker(&["load", "-i", archive.to_str().expect("utf-8 fixture path")]);
        assert!(out.success(), "docker load of {tag}\n{}", out.describe());
        tag
    }

    /// Runs the stock `docker` CLI against this daemon (2 minute timeout).
    pub fn docker(&self, args: &[&str]) -> cli::Output {
        self.docker_timeout(args, Duration::from_secs(120))
    }

    pub fn docker_timeout(&self, args: &[&str], timeout: Duration) -> cli::Output {
        let config = self.dir.join("docker-config");
        let _ = fs::create_dir_all(&config);
        cli::run(cli::docker_command(&self.host, &config, args), timeout)
    }

    /// Runs Debian's docker-compose against this daemon on project `project` of the
    /// compose file in `dir` (3 minute timeout).
    pub fn compose(&self, dir: &Path, project: &str, args: &[&str]) -> cli::Output {
        let mut cmd = Command::new("docker-compose");
        cmd.current_dir(dir)
            .env("DOCKER_HOST", &self.host)
            .env_remove("DOCKER_CONTEXT")
            .env("COMPOSE_INTERACTIVE_NO_CLI", "1")
            .args(["-p", project])
            .args(args)
            .stdin(Stdio::null());
        cli::run(cmd, Duration::from_secs(180))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            // berthd keeps containers running when it stops (live restore); a test daemon's
            // containers must go with it.
            self.remove_all_containers();
            self.remove_all_networks();
            self.stop(STOP_TIMEOUT);
            kill_leftover_shims(&self.dir);
        }
        // The daemon's bridge (made by the harness for a dockerd, by berthd for itself) and
        // the rules berthd added for it go with the daemon.
        let bridge = self
            .made_bridge
            .take()
            .or_else(|| self.bridge_args.get(1).cloned());
        if let Some(bridge) = bridge {
            let _ = Command::new("ip")
                .args(["link", "del", &bridge])
                .stderr(Stdio::null())
                .status();
            delete_rules_naming(&bridge);
        }
        self.pool = None;
        if std::env::var_os("BERTH_COMPAT_KEEP").is_some() {
            eprintln!("keeping {}", self.dir.display());
            return;
        }
        unmount_under(&self.dir);
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Deletes the FORWARD and nat POSTROUTING rules that name interface `device`.
fn delete_rules_naming(device: &str) {
    for (table, chain) in [("filter", "FORWARD"), ("nat", "POSTROUTING")] {
        let Ok(out) = Command::new("iptables")
            .args(["-w", "-t", table, "-S", chain])
            .output()
        else {
            return;
        };
        for rule in String::from_utf8_lossy(&out.stdout).lines() {
            let words: Vec<&str> = rule.split_whitespace().collect();
            if words.first() != Some(&"-A") || !words.contains(&device) {
                continue;
            }
            let _ = Command::new("iptables")
                .args(["-w", "-t", table, "-D"])
                .args(&words[1..])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Daemon {
    /// Force-removes every container of an owned daemon (best effort, bounded).
    fn remove_all_containers(&self) {
        let Ok(list) = http::request(&self.socket, "GET", "/containers/json?all=1", &[], b"")
        else {
            return;
        };
        let ids: Vec<String> = list
            .json()
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c["Id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        for id in ids {
            let _ = http::request(
                &self.socket,
                "DELETE",
                &format!("/containers/{id}?force=1"),
                &[],
                b"",
            );
        }
    }

    /// Removes the user-defined networks an owned daemon still has, so their bridge
    /// devices and rules leave the host with it (both daemons remove a network's bridge with
    /// the network). Best effort.
    fn remove_all_networks(&self) {
        let Ok(list) = http::request(&self.socket, "GET", "/networks", &[], b"") else {
            return;
        };
        for n in list.json().as_array().into_iter().flatten() {
            let (Some(id), Some(name)) = (n["Id"].as_str(), n["Name"].as_str()) else {
                continue;
            };
            if !["bridge", "host", "none"].contains(&name) {
                let _ = http::request(&self.socket, "DELETE", &format!("/networks/{id}"), &[], b"");
            }
        }
    }
}

/// Kills shims (and the container processes under them) left behind below `dir`: only
/// processes whose command line names this daemon's own directory.
fn kill_leftover_shims(dir: &Path) {
    for shim in procfs::containerd_pids_under(dir) {
        for pid in procfs::descendants(shim).into_iter().rev() {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
        let _ = kill(Pid::from_raw(shim as i32), Signal::SIGKILL);
    }
}

/// Lazily unmounts whatever is still mounted below `dir` (deepest first), so that removing
/// the directory cannot reach into a live mount. Best effort.
fn unmount_under(dir: &Path) {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let prefix = format!("{}/", dir.display());
    let mut points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| p.replace("\\040", " "))
        .filter(|p| p.starts_with(&prefix))
        .collect();
    if points.is_empty() {
        return;
    }
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&p)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Percent-encodes a query-string value (everything but RFC 3986 unreserved characters).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
