//! What `docker run` flags do inside the container: user and groups, working directory,
//! `--init`, `--tmpfs`, `--ulimit`, `--sysctl`, `--read-only`, and the clean-up of an
//! auto-remove container whose start fails. Each expectation was checked against Debian's
//! dockerd 20.10 first (with `--network none`, as it runs without a bridge here).

use compat_tests::{Daemon, cli, daemon};

struct Ctx {
    d: Daemon,
    image: String,
}

fn setup(test: &str) -> Ctx {
    let d = daemon();
    let tag = d.load_test_image(&format!("runcfg-{test}"));
    Ctx { d, image: tag }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        if !self.d.owned() {
            let _ = self.d.docker(&["rmi", "-f", &self.image]);
        }
    }
}

impl Ctx {
    fn run(&self, flags: &[&str], cmd: &[&str]) -> cli::Output {
        let mut args = vec!["run", "--rm", "--network", "none"];
        args.extend_from_slice(flags);
        args.push(&self.image);
        args.extend_from_slice(cmd);
        self.d.docker(&args)
    }
}

#[test]
fn init_tmpfs_ulimit_sysctl_workdir_and_groups_apply() {
    let c = setup("all");
    let out = c.run(
        &[
            "--init",
            "--tmpfs",
            "/run:rw,size=1m",
            "--ulimit",
            "nofile=100:200",
            "--group-add",
            "10",
            "--sysctl",
            "kernel.msgmax=4096",
            "-w",
            "/some/dir",
        ],
        &[
            "sh",
            "-c",
            "id -G; pwd; ulimit -n; ulimit -Hn; cat /proc/sys/kernel/msgmax; \
             grep ' /run ' /proc/mounts; tr '\\0' ' ' < /proc/1/cmdline",
        ],
    );
    assert!(out.success(), "{}", out.describe());
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 7, "{}", out.stdout);
    let groups: Vec<&str> = lines[0].split_whitespace().collect();
    assert!(
        groups.contains(&"0") && groups.contains(&"10"),
        "groups: {}",
        lines[0]
    );
    assert_eq!(lines[1], "/some/dir");
    assert_eq!(lines[2], "100");
    assert_eq!(lines[3], "200");
    assert_eq!(lines[4], "4096");
    assert!(lines[5].starts_with("tmpfs /run tmpfs "), "{}", lines[5]);
    assert!(
        lines[5].contains("noexec") && lines[5].contains("size=1024k"),
        "{}",
        lines[5]
    );
    assert!(
        lines[6].starts_with("/sbin/docker-init -- sh -c"),
        "{}",
        lines[6]
    );
}

#[test]
fn users_resolve_by_name_and_unknown_users_fail() {
    let c = setup("user");
    let out = c.run(&["-u", "nobody"], &["id", "-u"]);
    assert!(out.success(), "{}", out.describe());
    assert_eq!(out.stdout.trim(), "65534");
    let name = format!("bct-runcfg-{}-ghost", std::process::id());
    let out = c.run(&["--name", &name, "-u", "ghost"], &["true"]);
    assert!(!out.success(), "{}", out.describe());
    assert!(
        out.stderr.contains("unable to find user ghost"),
        "{}",
        out.describe()
    );
    // An auto-remove container whose start failed is removed, so nothing is left behind.
    let ps =
        c.d.docker(&["ps", "-aq", "--filter", &format!("name={name}")]);
    assert!(
        ps.success() && ps.stdout.trim().is_empty(),
        "{}",
        ps.describe()
    );
}

#[test]
fn read_only_rootfs_refuses_writes() {
    let c = setup("ro");
    let out = c.run(&["--read-only"], &["touch", "/x"]);
    assert!(!out.success(), "{}", out.describe());
    assert!(
        out.stderr.contains("Read-only file system"),
        "{}",
        out.describe()
    );
    let out = c.run(&["--read-only", "--tmpfs", "/tmp"], &["touch", "/tmp/x"]);
    assert!(out.success(), "{}", out.describe());
}

#[test]
fn init_layer_holds_the_placeholders_and_rm_leaves_nothing_behind() {
    let c = setup("init-layer");
    // dockerd's init layer: /.dockerenv, /etc/mtab and the mount points, none of them
    // counted as the container's own changes.
    let out = c.run(
        &[],
        &[
            "sh",
            "-c",
            "ls -l /.dockerenv /etc/mtab && readlink /etc/mtab",
        ],
    );
    assert!(out.success(), "{}", out.describe());
    assert!(out.stdout.contains("-rwxr-xr-x"), "{}", out.stdout);
    assert!(
        out.stdout.trim_end().ends_with("/proc/mounts"),
        "{}",
        out.stdout
    );
    let name = format!("bct-init-layer-{}", std::process::id());
    let out = c.d.docker(&[
        "run",
        "--name",
        &name,
        "--network",
        "none",
        &c.image,
        "true",
    ]);
    assert!(out.success(), "{}", out.describe());
    let out = c.d.docker(&[
        "ps",
        "-a",
        "-s",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.Size}}",
    ]);
    assert!(out.stdout.trim().starts_with("0B"), "{}", out.describe());
    let id =
        c.d.docker(&["inspect", "-f", "{{.Id}}", &name])
            .stdout
            .trim()
            .to_string();

    if c.d.owned() {
        // Inside berthd's containerd: the writable layer sits on the image's init layer
        // (shared by the image's containers), and removing the container removes the layer,
        // the container record and its task.
        let ctr = |args: &[&str]| c.d.ctr(args);
        let snapshots = ctr(&["snapshots", "ls"]);
        let line = snapshots
            .lines()
            .find(|l| l.starts_with(&format!("{id} ")))
            .unwrap_or_else(|| panic!("no snapshot {id}:\n{snapshots}"));
        assert!(line.contains("berth-init-"), "{line}");
        let out = c.d.docker(&["rm", &name]);
        assert!(out.success(), "{}", out.describe());
        let gone = compat_tests::wait_until(std::time::Duration::from_secs(10), || {
            !ctr(&["snapshots", "ls"]).contains(&id)
                && !ctr(&["containers", "ls", "-q"]).contains(&id)
                && !ctr(&["tasks", "ls"]).contains(&id)
        });
        assert!(gone, "left behind:\n{}", ctr(&["snapshots", "ls"]));
    } else {
        let _ = c.d.docker(&["rm", "-f", &name]);
    }
}

#[test]
fn default_seccomp_profile_applies_unless_unconfined() {
    let c = setup("seccomp");
    let script = "grep Seccomp: /proc/self/status; unshare -U true && echo unshare-ok";
    // Docker's default profile: a filter is installed, and unshare needs CAP_SYS_ADMIN.
    let out = c.run(&[], &["sh", "-c", script]);
    assert!(out.stdout.contains("Seccomp:\t2"), "{}", out.describe());
    assert!(!out.stdout.contains("unshare-ok"), "{}", out.describe());
    assert!(
        out.stderr.contains("Operation not permitted"),
        "{}",
        out.describe()
    );
    let out = c.run(&["--cap-add", "SYS_ADMIN"], &["sh", "-c", script]);
    assert!(out.stdout.contains("unshare-ok"), "{}", out.describe());
    let out = c.run(
        &["--security-opt", "seccomp=unconfined"],
        &["sh", "-c", script],
    );
    assert!(out.stdout.contains("Seccomp:\t0"), "{}", out.describe());
    assert!(out.stdout.contains("unshare-ok"), "{}", out.describe());

    // dockerd's texts for options it cannot read.
    let out = c.d.docker(&[
        "create",
        "--security-opt",
        "no-new-privileges=maybe",
        &c.image,
    ]);
    assert!(!out.success(), "{}", out.describe());
    assert!(
        out.stderr
            .contains("invalid --security-opt 2: \"no-new-privileges=maybe\""),
        "{}",
        out.describe()
    );
}
