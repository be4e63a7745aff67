//! Networking with the stock CLI: user-defined networks with DNS by name and alias, the
//! default bridge (no name resolution), port publishing (random and fixed host ports, TCP
//! and UDP, reachable on 127.0.0.1), and the networks API (create, inspect, ls filters,
//! connect, disconnect, rm, prune). Bridge tests need a daemon that makes bridges, so they
//! run on berthd (the reference dockerd here runs with `--bridge=none --iptables=false`);
//! the networks API test runs on both.

use std::io::Read as _;
use std::net::UdpSocket;
use std::process::Command;
use std::time::{Duration, Instant};

use compat_tests::{Daemon, daemon, http_get};
use serde_json::{Value, json};

struct Ctx {
    d: Daemon,
    image: String,
    tag: String,
    names: Vec<String>,
    networks: Vec<String>,
}

fn setup(test: &str) -> Ctx {
    let d = daemon();
    let image = d.load_test_image(&format!("net-{test}"));
    Ctx {
        d,
        image,
        tag: format!("bct-net-{}-{test}", std::process::id()),
        names: vec![],
        networks: vec![],
    }
}

impl Ctx {
    fn ok(&self, args: &[&str]) -> String {
        let out = self.d.docker(args);
        assert!(out.success(), "docker {args:?}\n{}", out.describe());
        out.stdout
    }

    fn name(&mut self, what: &str) -> String {
        let n = format!("{}-{what}", self.tag);
        self.names.push(n.clone());
        n
    }

    /// A network of its own with a subnet no other test uses.
    fn network(&mut self, what: &str, third: u8) -> (String, String) {
        let n = format!("{}-{what}", self.tag);
        let subnet = format!("10.{}.{third}.0/24", 40 + std::process::id() % 50);
        self.ok(&[
            "network", "create", "--subnet", &subnet, "--label", "bct=1", &n,
        ]);
        self.networks.push(n.clone());
        (n, subnet)
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = self.d.docker(&["rm", "-f", n]);
        }
        for n in &self.networks {
            let _ = self.d.docker(&["network", "rm", n]);
        }
        if !self.d.owned() {
            let _ = self.d.docker(&["rmi", "-f", &self.image]);
        }
    }
}

const HTTPD: &str = "mkdir -p /www && echo \"served by $(hostname)\" > /www/index.html && exec httpd -f -p 8080 -h /www";

#[test]
fn containers_on_a_user_network_reach_each_other_by_name_and_alias() {
    let mut c = setup("dns");
    if c.d
        .skip_unless_owned("the reference dockerd runs without bridges")
    {
        return;
    }
    let (net, subnet) = c.network("app", 1);
    let server = c.name("server");
    let image = c.image.clone();
    c.ok(&[
        "run",
        "-d",
        "--name",
        &server,
        "--network",
        &net,
        "--network-alias",
        "db-alias",
        &image,
        "sh",
        "-c",
        HTTPD,
    ]);
    let client = c.name("client");
    let out = c.ok(&[
        "run", "--name", &client, "--network", &net, &image, "sh", "-c",
        &format!(
            "ping -c1 -W2 {server} >/dev/null && ping -c1 -W2 db-alias >/dev/null \
             && for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://db-alias:8080/ && break; sleep 0.3; done \
             && tail -1 /etc/hosts && grep nameserver /etc/resolv.conf"
        ),
    ]);
    let mut lines = out.lines();
    assert!(
        lines.next().unwrap_or_default().starts_with("served by "),
        "{out}"
    );
    let hosts_line = lines.next().unwrap_or_default();
    let own_ip = hosts_line.split('\t').next().unwrap_or_default();
    assert!(own_ip.starts_with(subnet.trim_end_matches("0/24")), "{out}");

    let (_, v) = c.d.get_json(&format!("/containers/{server}/json"));
    let e = &v["NetworkSettings"]["Networks"][&net];
    let ip = e["IPAddress"].as_str().unwrap_or_default().to_string();
    assert!(ip.starts_with(subnet.trim_end_matches("0/24")), "{e}");
    assert_eq!(e["IPPrefixLen"], 24);
    assert_eq!(e["Gateway"], subnet.replace("0/24", "1"));
    assert_eq!(e["Aliases"], json!(["db-alias"]));
    assert_eq!(e["MacAddress"].as_str().map(str::len), Some(17));
    let dns: Vec<&str> = e["DNSNames"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        dns.contains(&server.as_str()) && dns.contains(&"db-alias"),
        "{e}"
    );
    let (_, n) = c.d.get_json(&format!("/networks/{net}"));
    let id = v["Id"].as_str().unwrap();
    assert_eq!(n["Containers"][id]["IPv4Address"], format!("{ip}/24"));

    // The default bridge has no name resolution of user networks' containers.
    let outsider = c.name("outsider");
    let out = c.d.docker(&[
        "run",
        "--name",
        &outsider,
        &image,
        "sh",
        "-c",
        &format!("timeout 3 nslookup {server} 2>&1; ping -c1 -W1 {server} 2>&1; true"),
    ]);
    assert!(!out.stdout.contains(&ip), "{}", out.describe());
    let (_, o) = c.d.get_json(&format!("/containers/{outsider}/json"));
    assert!(
        o["NetworkSettings"]["Networks"]["bridge"].is_object(),
        "{o}"
    );
}

/// Whether the container (its /proc/net/fib_trie) has the first address of `subnet`
/// (`10.x.y.0/24` → `10.x.y.2`, the gateway being `.1`).
fn holds(fib_trie: &str, subnet: &str) -> bool {
    fib_trie.contains(&format!("|-- {}2\n", subnet.trim_end_matches("0/24")))
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn published_ports_reach_the_container_from_the_host() {
    let mut c = setup("ports");
    if c.d
        .skip_unless_owned("the reference dockerd runs without bridges")
    {
        return;
    }
    let name = c.name("web");
    let udp = free_udp_port();
    let image = c.image.clone();
    c.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "-p",
        "127.0.0.1::8080",
        "-p",
        &format!("{udp}:9999/udp"),
        &image,
        "sh",
        "-c",
        &format!("nc -u -l -p 9999 > /tmp/udp & {HTTPD}"),
    ]);
    let out = c.ok(&["port", &name, "8080/tcp"]);
    let port: u16 = out
        .trim()
        .strip_prefix("127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("docker port said {out:?}"));
    let body = http_get(port, "/").expect("the published port answers");
    assert!(body.contains("served by "), "{body}");
    let (_, v) = c.d.get_json(&format!("/containers/{name}/json"));
    assert_eq!(
        v["NetworkSettings"]["Ports"],
        json!({
            "8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": port.to_string()}],
            "9999/udp": [{"HostIp": "0.0.0.0", "HostPort": udp.to_string()},
                         {"HostIp": "::", "HostPort": udp.to_string()}],
        })
    );
    // The test image has no UDP server: a listener joins the container's namespace (the
    // SandboxKey berthd made) from the host.
    let sandbox = v["NetworkSettings"]["SandboxKey"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!sandbox.is_empty(), "{v}");
    let listener = std::process::Command::new("nsenter")
        .arg(format!("--net={sandbox}"))
        .args([
            "python3",
            "-c",
            "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(('0.0.0.0', 9999))\ns.settimeout(15)\nprint(s.recvfrom(100)[0].decode().strip(), flush=True)",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("nsenter python3");
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut listener = listener;
    while Instant::now() < deadline {
        let _ = sock.send_to(b"ping-udp\n", ("127.0.0.1", udp));
        if listener.try_wait().ok().flatten().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = listener.wait_with_output().expect("listener output");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ping-udp");

    // Stopping releases the ports: another container takes the same fixed one.
    c.ok(&["stop", "-t", "1", &name]);
    let (_, v) = c.d.get_json(&format!("/containers/{name}/json"));
    assert_eq!(v["NetworkSettings"]["Ports"], json!({}));
    let again = c.name("again");
    c.ok(&[
        "run",
        "-d",
        "--name",
        &again,
        "-p",
        &format!("{udp}:9999/udp"),
        &image,
        "sleep",
        "30",
    ]);
    let busy = c.name("busy");
    let out = c.d.docker(&[
        "run",
        "-d",
        "--name",
        &busy,
        "-p",
        &format!("{udp}:9999/udp"),
        &image,
        "true",
    ]);
    assert!(!out.success(), "a taken host port must be refused");
    assert!(
        out.stderr.contains("port is already allocated"),
        "{}",
        out.describe()
    );
}

/// A port published on all addresses is reached from another container through the
/// bridge's gateway (the host), as dockerd's proxy makes it reachable.
#[test]
fn a_published_port_is_reached_from_another_container_through_the_gateway() {
    let mut c = setup("hairpin");
    if c.d
        .skip_unless_owned("the reference dockerd runs without bridges")
    {
        return;
    }
    let image = c.image.clone();
    let server = c.name("server");
    c.ok(&[
        "run", "-d", "--name", &server, "-p", "8080", &image, "sh", "-c", HTTPD,
    ]);
    let port = c.ok(&["port", &server, "8080/tcp"]);
    let port = port
        .lines()
        .find_map(|l| l.strip_prefix("0.0.0.0:"))
        .unwrap_or_else(|| panic!("docker port said {port:?}"))
        .to_string();
    let (_, v) = c.d.get_json(&format!("/containers/{server}/json"));
    let gateway = v["NetworkSettings"]["Networks"]["bridge"]["Gateway"]
        .as_str()
        .expect("a gateway")
        .to_string();
    let out = c.ok(&[
        "run",
        "--rm",
        &image,
        "sh",
        "-c",
        &format!(
            "for i in 1 2 3 4 5; do wget -qO- http://{gateway}:{port}/ && break; sleep 0.5; done"
        ),
    ]);
    assert!(out.starts_with("served by "), "{out}");
}

#[test]
fn the_networks_api_behaves_as_on_dockerd() {
    let mut c = setup("api");
    let (net, subnet) = c.network("api", 2);
    let out = c.d.docker(&["network", "create", &net]);
    assert!(!out.success());
    assert!(
        out.stderr
            .contains(&format!("network with name {net} already exists")),
        "{}",
        out.describe()
    );

    let (status, n) = c.d.get_json(&format!("/networks/{net}"));
    assert_eq!(status, 200);
    assert_eq!(n["Driver"], "bridge");
    assert_eq!(n["Scope"], "local");
    // Echoed as given (compose compares it).
    assert_eq!(n["IPAM"]["Config"], json!([{"Subnet": subnet}]));
    assert_eq!(n["Labels"], json!({"bct": "1"}));
    assert_eq!(n["Containers"], json!({}));
    let id = n["Id"].as_str().unwrap().to_string();

    let ls = |filter: &str| -> Vec<String> {
        let out = c.ok(&["network", "ls", "--filter", filter, "--format", "{{.Name}}"]);
        out.lines().map(str::to_string).collect()
    };
    assert_eq!(ls(&format!("name={net}")), std::slice::from_ref(&net));
    assert_eq!(ls(&format!("id={}", &id[..12])), std::slice::from_ref(&net));
    assert!(ls("type=custom").contains(&net));
    assert!(!ls("type=builtin").contains(&net));
    assert!(ls("type=builtin").contains(&"host".to_string()));
    assert!(ls("label=bct=1").contains(&net));
    assert!(ls("driver=null").contains(&"none".to_string()));
    assert!(ls("dangling=true").contains(&net));

    let out = c.d.docker(&["network", "rm", "none"]);
    assert!(
        out.stderr
            .contains("none is a pre-defined network and cannot be removed"),
        "{}",
        out.describe()
    );
    let (status, v) = c.d.get_json("/networks/bct-net-no-such");
    assert_eq!(
        (status, v["message"].as_str()),
        (404, Some("network bct-net-no-such not found"))
    );

    // A created container joins at start; one on `none` cannot be connected elsewhere.
    let member = c.name("member");
    let image = c.image.clone();
    c.ok(&[
        "create",
        "--name",
        &member,
        "--network",
        &net,
        &image,
        "sleep",
        "30",
    ]);
    c.ok(&["network", "disconnect", &net, &member]);
    let out = c.d.docker(&["network", "disconnect", &net, &member]);
    assert!(
        out.stderr.contains("is not connected to the network"),
        "{}",
        out.describe()
    );
    let loner = c.name("loner");
    c.ok(&[
        "run",
        "-d",
        "--name",
        &loner,
        "--network",
        "none",
        &image,
        "sleep",
        "30",
    ]);
    let out = c.d.docker(&["network", "connect", &net, &loner]);
    assert!(
        out.stderr.contains("container cannot be connected to multiple networks with one of the networks in private (none) mode"),
        "{}",
        out.describe()
    );
    if c.d.owned() {
        // A running container joins and leaves a network on the spot.
        let (other, other_subnet) = c.network("other", 3);
        let runner = c.name("runner");
        c.ok(&[
            "run",
            "-d",
            "--name",
            &runner,
            "--network",
            &net,
            &image,
            "sleep",
            "60",
        ]);
        c.ok(&["network", "connect", "--alias", "late", &other, &runner]);
        let addrs = c.ok(&["exec", &runner, "cat", "/proc/net/fib_trie"]);
        assert!(holds(&addrs, &other_subnet), "{addrs}");
        let out = c.d.docker(&["network", "rm", &other]);
        assert!(
            out.stderr.contains("has active endpoints"),
            "{}",
            out.describe()
        );
        c.ok(&["network", "disconnect", &other, &runner]);
        let addrs = c.ok(&["exec", &runner, "cat", "/proc/net/fib_trie"]);
        assert!(!holds(&addrs, &other_subnet), "{addrs}");
        c.ok(&["rm", "-f", &runner]);
    }
    c.ok(&["rm", "-f", &member, &loner]);
    let (pruned, _) = c.network("pruned", 4);
    let out = c.ok(&["network", "prune", "-f", "--filter", "label=bct=1"]);
    assert!(out.contains(&pruned) && out.contains(&net), "{out}");
    let (status, _) = c.d.get_json(&format!("/networks/{pruned}"));
    assert_eq!(status, 404);
}

#[test]
fn legacy_links_and_extra_hosts_on_the_default_bridge() {
    let mut c = setup("links");
    if c.d
        .skip_unless_owned("the reference dockerd runs without bridges")
    {
        return;
    }
    let db = c.name("db");
    let image = c.image.clone();
    c.ok(&[
        "run",
        "-d",
        "--name",
        &db,
        "-e",
        "SECRET=s3",
        "--expose",
        "5432",
        &image,
        "sleep",
        "60",
    ]);
    let (_, v) = c.d.get_json(&format!("/containers/{db}/json"));
    // The bridge endpoint, not the top-level copies API 1.52 dropped.
    let endpoint = &v["NetworkSettings"]["Networks"]["bridge"];
    let ip = endpoint["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let db_host = v["Config"]["Hostname"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!ip.is_empty(), "{v}");
    let gateway = endpoint["Gateway"].as_str().unwrap_or_default().to_string();
    let client = c.name("client");
    let out = c.ok(&[
        "run",
        "--name",
        &client,
        "--link",
        &format!("{db}:database"),
        "--add-host",
        "myhost:10.1.2.3",
        "--add-host",
        "gw:host-gateway",
        &image,
        "sh",
        "-c",
        "env | grep ^DATABASE_ | sort; grep -E 'database|myhost|gw' /etc/hosts",
    ]);
    let expected = format!(
        "DATABASE_ENV_SECRET=s3\nDATABASE_NAME=/{client}/database\nDATABASE_PORT=tcp://{ip}:5432\n\
         DATABASE_PORT_5432_TCP=tcp://{ip}:5432\nDATABASE_PORT_5432_TCP_ADDR={ip}\n\
         DATABASE_PORT_5432_TCP_PORT=5432\nDATABASE_PORT_5432_TCP_PROTO=tcp\n\
         10.1.2.3\tmyhost\n{gateway}\tgw\n{ip}\tdatabase {db_host} {db}\n"
    );
    assert_eq!(out, expected);
    let (_, v) = c.d.get_json(&format!("/containers/{client}/json"));
    assert_eq!(
        v["HostConfig"]["Links"],
        json!([format!("/{db}:/{client}/database")])
    );

    // A link needs a running container, and an existing one.
    c.ok(&["stop", "-t", "0", &db]);
    let late = c.name("late");
    let out = c.d.docker(&[
        "run",
        "--name",
        &late,
        "--link",
        &format!("{db}:database"),
        &image,
        "true",
    ]);
    assert!(
        out.stderr
            .contains("Cannot link to a non running container"),
        "{}",
        out.describe()
    );
    let out =
        c.d.docker(&["create", "--link", "bct-net-no-such:x", &image, "true"]);
    assert!(
        out.stderr
            .contains("could not get container for bct-net-no-such"),
        "{}",
        out.describe()
    );
}

#[test]
fn default_address_pools_give_new_networks_their_subnets() {
    if compat_tests::external_daemon() {
        return;
    }
    let d = Daemon::start_berthd(&["--default-address-pool", "base=10.177.0.0/16,size=24"]);
    let name = format!("bct-net-{}-pool", std::process::id());
    let out = d.docker(&["network", "create", &name]);
    assert!(out.success(), "{}", out.describe());
    let (_, n) = d.get_json(&format!("/networks/{name}"));
    assert_eq!(
        n["IPAM"]["Config"],
        json!([{"Subnet": "10.177.0.0/24", "Gateway": "10.177.0.1"}])
    );
    let _ = d.docker(&["network", "rm", &name]);
}

#[test]
fn networks_carry_on_across_a_berthd_crash() {
    let mut c = setup("restart");
    if c.d.skip_unless_owned("restarts the daemon") {
        return;
    }
    let (net, _) = c.network("live", 5);
    let server = c.name("server");
    let image = c.image.clone();
    c.ok(&[
        "run",
        "-d",
        "--name",
        &server,
        "--network",
        &net,
        "-p",
        "127.0.0.1::8080",
        "--mac-address",
        "02:42:ac:11:ff:01",
        &image,
        "sh",
        "-c",
        HTTPD,
    ]);
    let mac = c.ok(&["exec", &server, "cat", "/sys/class/net/eth0/address"]);
    assert_eq!(mac.trim(), "02:42:ac:11:ff:01");
    let port: u16 = c
        .ok(&["port", &server, "8080/tcp"])
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a published port");
    c.d.restart(true);
    // The container kept its address, name and port; a new container still resolves it.
    assert!(http_get(port, "/").is_some_and(|b| b.contains("served by ")));
    let client = c.name("client");
    let out = c.ok(&[
        "run",
        "--name",
        &client,
        "--network",
        &net,
        &image,
        "sh",
        "-c",
        &format!("wget -qO- http://{server}:8080/"),
    ]);
    assert!(out.starts_with("served by "), "{out}");
    // The restarted daemon still knows the address is taken and the port is held.
    let (_, v) = c.d.get_json(&format!("/containers/{server}/json"));
    let taken = v["NetworkSettings"]["Networks"][&net]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (_, w) = c.d.get_json(&format!("/containers/{client}/json"));
    assert_ne!(
        w["NetworkSettings"]["Networks"][&net]["IPAddress"],
        json!(taken)
    );
    c.ok(&["rm", "-f", &server, &client]);
    c.ok(&["network", "rm", &net]);
    c.networks.clear();
}

#[test]
fn network_names_and_aliases_cannot_name_host_files() {
    let mut c = setup("names");
    if c.d
        .skip_unless_owned("the reference dockerd runs without bridges")
    {
        return;
    }
    let victim = compat_tests::unique_temp_dir("bct-net-victim");
    let _ = std::fs::remove_dir(&victim);
    // dockerd takes such a name; berthd too, but never as a path.
    let name = format!("{}-x/../../../../../../..{}", c.tag, victim.display());
    let subnet = format!("10.{}.6.0/24", 40 + std::process::id() % 50);
    c.ok(&["network", "create", "--subnet", &subnet, &name]);
    c.networks.push(name.clone());
    let runner = c.name("runner");
    let image = c.image.clone();
    c.ok(&["run", "--name", &runner, "--network", &name, &image, "true"]);
    assert!(!victim.exists(), "a network name became a host path");
    let out = c.d.docker(&[
        "run",
        "--rm",
        "--network",
        &name,
        "--network-alias",
        "bad\nline",
        &image,
        "true",
    ]);
    assert!(!out.success());
    assert!(
        out.stderr.contains("invalid network alias"),
        "{}",
        out.describe()
    );
}

#[test]
fn connect_and_disconnect_keep_each_network_on_its_own_interface() {
    let mut c = setup("ifaces");
    if c.d
        .skip_unless_owned("the reference dockerd runs without bridges")
    {
        return;
    }
    let (a, sa) = c.network("a", 7);
    let (b, sb) = c.network("b", 8);
    let (cc, sc) = c.network("c", 9);
    let (d, sd) = c.network("d", 10);
    let runner = c.name("runner");
    let image = c.image.clone();
    c.ok(&[
        "run",
        "-d",
        "--name",
        &runner,
        "--network",
        &a,
        &image,
        "sleep",
        "60",
    ]);
    c.ok(&["network", "connect", &b, &runner]);
    c.ok(&["network", "connect", &cc, &runner]);
    c.ok(&["network", "disconnect", &b, &runner]);
    let addrs = c.ok(&["exec", &runner, "cat", "/proc/net/fib_trie"]);
    assert!(holds(&addrs, &sa) && holds(&addrs, &sc), "{addrs}");
    assert!(!holds(&addrs, &sb), "{addrs}");
    // One more network, one more interface, and nothing else is disturbed. (Which name it
    // gets differs: dockerd 20.10 counts on to eth3, berthd reuses the freed eth1.)
    c.ok(&["network", "connect", &d, &runner]);
    let ifaces = c.ok(&["exec", &runner, "ls", "/sys/class/net"]);
    let ifaces: Vec<&str> = ifaces.split_whitespace().collect();
    assert_eq!(ifaces.len(), 4, "{ifaces:?}");
    assert!(
        ifaces.contains(&"lo") && ifaces.contains(&"eth0"),
        "{ifaces:?}"
    );
    let addrs = c.ok(&["exec", &runner, "cat", "/proc/net/fib_trie"]);
    for s in [&sa, &sc, &sd] {
        assert!(holds(&addrs, s), "{s} missing: {addrs}");
    }
    c.ok(&["rm", "-f", &runner]);
}

#[test]
fn an_internal_network_has_no_way_out_but_its_members_meet() {
    let mut c = setup("internal");
    if c.d
        .skip_unless_owned("the reference dockerd runs without bridges")
    {
        return;
    }
    let name = format!("{}-inner", c.tag);
    let subnet = format!("10.{}.11.0/24", 40 + std::process::id() % 50);
    c.ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        &subnet,
        &name,
    ]);
    c.networks.push(name.clone());
    let (_, n) = c.d.get_json(&format!("/networks/{name}"));
    assert_eq!(n["Internal"], true);
    let server = c.name("server");
    let image = c.image.clone();
    c.ok(&[
        "run",
        "-d",
        "--name",
        &server,
        "--network",
        &name,
        &image,
        "sh",
        "-c",
        HTTPD,
    ]);
    let client = c.name("client");
    let out = c.ok(&[
        "run", "--name", &client, "--network", &name, &image, "sh", "-c",
        &format!(
            "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://{server}:8080/ && break; sleep 0.3; done; \
             grep -c '^eth0\\s*00000000' /proc/net/route || true"
        ),
    ]);
    let mut lines = out.lines();
    assert!(
        lines.next().unwrap_or_default().starts_with("served by "),
        "{out}"
    );
    // No default route: nothing beyond the network is reachable.
    assert_eq!(lines.next(), Some("0"), "{out}");
}

/// `--add-host host.docker.internal:host-gateway` reaches a server on the host through the
/// default bridge's gateway, as on dockerd.
#[test]
fn host_gateway_reaches_a_server_on_the_host() {
    let mut c = setup("hostgw");
    let listener = std::net::TcpListener::bind("0.0.0.0:0").expect("listen on the host");
    let port = listener.local_addr().expect("address").port();
    let server = std::thread::spawn(move || {
        listener.set_nonblocking(false).ok();
        let (mut conn, _) = listener.accept().expect("a connection from the container");
        conn.set_read_timeout(Some(Duration::from_secs(30))).ok();
        let mut got = String::new();
        let _ = conn.read_to_string(&mut got);
        got
    });
    let name = c.name("client");
    let image = c.image.clone();
    c.ok(&[
        "run",
        "--rm",
        "--name",
        &name,
        "--add-host",
        "host.docker.internal:host-gateway",
        &image,
        "sh",
        "-c",
        &format!("echo from-the-container | /bin/busybox nc -w 5 host.docker.internal {port}"),
    ]);
    assert_eq!(
        server.join().expect("server thread").trim(),
        "from-the-container"
    );
}

/// The host end of a container's `eth0`: the host interface whose index the container's
/// `iflink` names, and the bridge it is a port of.
fn host_end(c: &Ctx, name: &str) -> Option<(String, String)> {
    let iflink = c.ok(&["exec", name, "cat", "/sys/class/net/eth0/iflink"]);
    let iflink = iflink.trim();
    for entry in std::fs::read_dir("/sys/class/net").ok()?.flatten() {
        let dir = entry.path();
        if std::fs::read_to_string(dir.join("ifindex")).is_ok_and(|i| i.trim() == iflink) {
            let master = std::fs::read_link(dir.join("master")).ok()?;
            return Some((
                entry.file_name().to_string_lossy().into_owned(),
                master.file_name()?.to_string_lossy().into_owned(),
            ));
        }
    }
    None
}

fn reaches_from_the_host(ip: &str, port: u16) -> bool {
    let addr = std::net::SocketAddr::new(ip.parse().expect("an IPv4 address"), port);
    compat_tests::wait_until(Duration::from_secs(10), || {
        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
    })
}

/// A container on the default bridge: its veth is a port of the network's bridge device, its
/// MAC is derived from its address, it reaches the gateway and another container and is
/// reached from the host; removing it (after a daemon crash too, on berthd) leaves no veth.
#[test]
fn default_bridge_endpoints_are_plumbed_and_leave_no_veth_behind() {
    let mut c = setup("plumb");
    let (_, info) = c.d.get_json("/networks/bridge");
    let bridge = info["Options"]["com.docker.network.bridge.name"]
        .as_str()
        .expect("the default bridge names its device")
        .to_string();
    let image = c.image.clone();
    let server = c.name("server");
    c.ok(&["run", "-d", "--name", &server, &image, "sh", "-c", HTTPD]);
    let (_, inspected) = c.d.get_json(&format!("/containers/{server}/json"));
    let settings = &inspected["NetworkSettings"]["Networks"]["bridge"];
    let ip = settings["IPAddress"].as_str().unwrap().to_string();
    let gateway = settings["Gateway"].as_str().unwrap().to_string();
    let octets: Vec<u8> = ip.split('.').map(|o| o.parse().unwrap()).collect();
    let mac = format!(
        "02:42:{:02x}:{:02x}:{:02x}:{:02x}",
        octets[0], octets[1], octets[2], octets[3]
    );
    assert_eq!(settings["MacAddress"], mac.as_str());
    let inside = c.ok(&["exec", &server, "cat", "/sys/class/net/eth0/address"]);
    assert_eq!(inside.trim(), mac);
    let route = c.ok(&["exec", &server, "/bin/busybox", "ip", "route"]);
    assert!(
        route.contains(&format!("default via {gateway} dev eth0")),
        "{route}"
    );
    let ping = c.d.docker(&[
        "exec",
        &server,
        "/bin/busybox",
        "ping",
        "-c",
        "1",
        "-W",
        "5",
        &gateway,
    ]);
    assert!(ping.success(), "{}", ping.describe());
    let (veth, master) = host_end(&c, &server).expect("the container's veth is on the host");
    assert_eq!(master, bridge);
    assert!(
        reaches_from_the_host(&ip, 8080),
        "{ip}:8080 unreachable from the host"
    );
    let client = c.ok(&[
        "run",
        "--rm",
        &image,
        "/bin/busybox",
        "wget",
        "-q",
        "-O",
        "-",
        &format!("http://{ip}:8080/"),
    ]);
    assert!(client.contains("served by"), "{client}");

    if c.d.owned() && !c.d.is_dockerd() {
        c.d.signal(nix::sys::signal::Signal::SIGKILL);
        assert!(c.d.wait_exit(Duration::from_secs(30)).is_some());
        c.d.restart_stopped();
        assert!(
            reaches_from_the_host(&ip, 8080),
            "unreachable after a berthd crash"
        );
    }
    c.ok(&["rm", "-f", &server]);
    assert!(
        !std::path::Path::new("/sys/class/net").join(&veth).exists(),
        "{veth} is left on the host"
    );
}

/// A container on a user-defined network: its veth is a port of the network's bridge device,
/// it reaches the gateway and is found by name and alias from another container; removing it
/// (after a daemon crash too, on berthd) leaves no veth, and removing the network takes its
/// bridge device along, as on dockerd.
#[test]
fn user_network_endpoints_are_plumbed_and_the_bridge_goes_with_the_network() {
    let mut c = setup("userplumb");
    let net = format!("{}-net", c.tag);
    let bridge = format!("bct{}", std::process::id() % 100_000);
    let subnet = format!("10.{}.12.0/24", 40 + std::process::id() % 50);
    c.ok(&[
        "network",
        "create",
        "--subnet",
        &subnet,
        "-o",
        &format!("com.docker.network.bridge.name={bridge}"),
        &net,
    ]);
    c.networks.push(net.clone());
    let image = c.image.clone();
    let server = c.name("server");
    c.ok(&[
        "run",
        "-d",
        "--name",
        &server,
        "--network",
        &net,
        "--network-alias",
        "web-alias",
        &image,
        "sh",
        "-c",
        HTTPD,
    ]);
    let (veth, master) = host_end(&c, &server).expect("the container's veth is on the host");
    assert_eq!(master, bridge);
    let (_, inspected) = c.d.get_json(&format!("/containers/{server}/json"));
    let gateway = inspected["NetworkSettings"]["Networks"][&net]["Gateway"]
        .as_str()
        .expect("a gateway")
        .to_string();
    let ping = c.d.docker(&[
        "exec",
        &server,
        "/bin/busybox",
        "ping",
        "-c",
        "1",
        "-W",
        "5",
        &gateway,
    ]);
    assert!(ping.success(), "{}", ping.describe());
    let fetch = |c: &Ctx| {
        c.ok(&[
            "run",
            "--rm",
            "--network",
            &net,
            &image,
            "sh",
            "-c",
            &format!("wget -qO- http://{server}:8080/ && wget -qO- http://web-alias:8080/"),
        ])
    };
    let out = fetch(&c);
    assert_eq!(out.matches("served by ").count(), 2, "{out}");

    if c.d.owned() && !c.d.is_dockerd() {
        c.d.signal(nix::sys::signal::Signal::SIGKILL);
        assert!(c.d.wait_exit(Duration::from_secs(30)).is_some());
        c.d.restart_stopped();
        let out = fetch(&c);
        assert_eq!(out.matches("served by ").count(), 2, "after a crash: {out}");
    }
    c.ok(&["rm", "-f", &server]);
    assert!(
        !std::path::Path::new("/sys/class/net").join(&veth).exists(),
        "{veth} is left on the host"
    );
    c.ok(&["network", "rm", &net]);
    c.networks.clear();
    assert!(
        !std::path::Path::new("/sys/class/net")
            .join(&bridge)
            .exists(),
        "{bridge} is left on the host after network rm"
    );
}

/// A container started on two user-defined networks is on both, one interface each, found
/// by name on each, with its one default route through the network first in name order
/// (eth0), whichever it was created on, as on dockerd.
#[test]
fn a_container_started_on_two_networks_has_one_way_out() {
    let mut c = setup("twonets");
    if c.d
        .skip_unless_owned("the reference dockerd runs without bridges")
    {
        return;
    }
    let (second, s_second) = c.network("b", 14);
    let (first, s_first) = c.network("a", 13);
    let image = c.image.clone();
    let server = c.name("server");
    c.ok(&[
        "create",
        "--name",
        &server,
        "--network",
        &second,
        &image,
        "sh",
        "-c",
        HTTPD,
    ]);
    c.ok(&["network", "connect", &first, &server]);
    c.ok(&["start", &server]);
    let routes = c.ok(&["exec", &server, "/bin/busybox", "ip", "route"]);
    let gateway = format!("{}1", s_first.trim_end_matches("0/24"));
    let defaults: Vec<&str> = routes
        .lines()
        .filter(|l| l.starts_with("default"))
        .collect();
    assert_eq!(
        defaults,
        [format!("default via {gateway} dev eth0 ")],
        "{routes}"
    );
    let on = |subnet: &str, dev: &str| {
        routes
            .lines()
            .any(|l| l.starts_with(subnet) && l.contains(&format!("dev {dev} ")))
    };
    assert!(on(&s_first, "eth0") && on(&s_second, "eth1"), "{routes}");
    for net in [&first, &second] {
        let out = c.ok(&[
            "run",
            "--rm",
            "--network",
            net,
            &image,
            "sh",
            "-c",
            &format!(
                "for i in 1 2 3 4 5; do wget -qO- http://{server}:8080/ && break; sleep 0.5; done"
            ),
        ]);
        assert!(out.starts_with("served by "), "from {net}: {out}");
    }
}

/// `network connect` of a network that comes first in name order moves a running
/// container's default route to it, and `disconnect` moves it back, as dockerd does; the
/// connected container is found by name on the new network.
#[test]
fn connect_and_disconnect_move_the_default_route() {
    let mut c = setup("reroute");
    if c.d
        .skip_unless_owned("the reference dockerd runs without bridges")
    {
        return;
    }
    let (second, s_second) = c.network("b", 16);
    let (first, s_first) = c.network("a", 15);
    let image = c.image.clone();
    let server = c.name("server");
    c.ok(&[
        "run",
        "-d",
        "--name",
        &server,
        "--network",
        &second,
        &image,
        "sh",
        "-c",
        HTTPD,
    ]);
    let default_via = |c: &Ctx| {
        let routes = c.ok(&["exec", &server, "/bin/busybox", "ip", "route"]);
        routes
            .lines()
            .filter_map(|l| l.strip_prefix("default via "))
            .map(|l| l.split_whitespace().next().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
    };
    let gateway = |subnet: &str| format!("{}1", subnet.trim_end_matches("0/24"));
    assert_eq!(default_via(&c), [gateway(&s_second)]);
    c.ok(&["network", "connect", &first, &server]);
    assert_eq!(default_via(&c), [gateway(&s_first)]);
    let out = c.ok(&[
        "run",
        "--rm",
        "--network",
        &first,
        &image,
        "sh",
        "-c",
        &format!(
            "for i in 1 2 3 4 5; do wget -qO- http://{server}:8080/ && break; sleep 0.5; done"
        ),
    ]);
    assert!(out.starts_with("served by "), "{out}");
    c.ok(&["network", "disconnect", &first, &server]);
    assert_eq!(default_via(&c), [gateway(&s_second)]);
}

/// A network given a bridge device that is already on the host (`-o
/// com.docker.network.bridge.name=<existing>`) uses it and leaves it there when removed, as
/// dockerd leaves a bridge it did not create.
#[test]
fn a_bridge_the_network_did_not_create_stays_after_network_rm() {
    let mut c = setup("ownbridge");
    if c.d
        .skip_unless_owned("the reference dockerd runs without bridges")
    {
        return;
    }
    let bridge = format!("bctown{}", std::process::id() % 100_000);
    let made = Command::new("ip")
        .args(["link", "add", &bridge, "type", "bridge"])
        .status()
        .expect("ip link add");
    assert!(made.success());
    let net = format!("{}-net", c.tag);
    let subnet = format!("10.{}.17.0/24", 40 + std::process::id() % 50);
    c.ok(&[
        "network",
        "create",
        "--subnet",
        &subnet,
        "-o",
        &format!("com.docker.network.bridge.name={bridge}"),
        &net,
    ]);
    c.networks.push(net.clone());
    let image = c.image.clone();
    let out = c.ok(&[
        "run",
        "--rm",
        "--network",
        &net,
        &image,
        "cat",
        "/sys/class/net/eth0/address",
    ]);
    assert!(!out.trim().is_empty());
    c.ok(&["network", "rm", &net]);
    c.networks.clear();
    let stays = std::path::Path::new("/sys/class/net")
        .join(&bridge)
        .exists();
    let _ = Command::new("ip").args(["link", "del", &bridge]).status();
    assert!(stays, "{bridge} was removed with the network");
}
