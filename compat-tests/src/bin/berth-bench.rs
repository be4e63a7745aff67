//! berth-bench: compares two Docker Engine API daemons over their unix sockets.
//!
//! ```text
//! berth-bench [--iterations N] [--clients K] [--containers M] [--runs R]
//!             [--pid-a PID] [--pid-b PID] [--ready-a MS] [--ready-b MS]
//!             [--network MODE] [--image IMAGE] HOST_A [HOST_B]
//! berth-bench --wait-ready HOST [--timeout SECS] [--since-ns EPOCH_NS]
//! ```
//!
//! Containers run on each daemon's default bridge network unless `--network` says otherwise,
//! as `docker run` runs them; one extra row repeats the run cycle with `--network none`.
//!
//! Every request goes over one kept-alive connection per client, as real clients do. Latency
//! rows are milliseconds (lower is better); throughput rows are operations per second
//! (higher is better); memory rows are MiB of resident memory. Container rows print `n/a`
//! when the daemon has no container routes yet or no `busybox` image.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use compat_tests::http::Conn;
use compat_tests::{procfs, socket_from_host};
use serde_json::{Value, json};

const API: &str = "/v1.41";
/// The user-defined network of the user-network row.
const USER_NETWORK: &str = "berth-bench-net";

struct Options {
    iterations: usize,
    clients: usize,
    containers: usize,
    runs: usize,
    network: String,
    image: String,
    hosts: Vec<String>,
    pids: [Option<u32>; 2],
    ready: [Option<f64>; 2],
}

fn usage() -> ! {
    eprintln!(
        "usage: berth-bench [--iterations N] [--clients K] [--containers M] [--runs R]\n\
         \x20                  [--pid-a PID] [--pid-b PID] [--ready-a MS] [--ready-b MS]\n\
         \x20                  [--network MODE] [--image IMAGE] HOST_A [HOST_B]\n\
         \x20      berth-bench --wait-ready HOST [--timeout SECS] [--since-ns EPOCH_NS]\n\
         HOST is unix:///path/to/docker.sock"
    );
    std::process::exit(2)
}

fn parse<T: std::str::FromStr>(flag: &str, v: Option<String>) -> T {
    v.and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        eprintln!("{flag} needs a valid value");
        usage()
    })
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut o = Options {
        iterations: 200,
        clients: 4,
        containers: 0,
        runs: 0,
        network: "bridge".into(),
        image: "busybox".into(),
        hosts: Vec::new(),
        pids: [None, None],
        ready: [None, None],
    };
    let mut wait_ready: Option<String> = None;
    let mut timeout = 60.0f64;
    let mut since_ns: Option<u128> = None;
    let mut populate: Option<usize> = None;
    let mut running = 0usize;
    let mut remove_all = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--iterations" | "-n" => o.iterations = parse(&a, args.next()),
            "--clients" | "-k" => o.clients = parse(&a, args.next()),
            "--containers" => o.containers = parse(&a, args.next()),
            "--runs" => o.runs = parse(&a, args.next()),
            "--pid-a" => o.pids[0] = Some(parse(&a, args.next())),
            "--pid-b" => o.pids[1] = Some(parse(&a, args.next())),
            "--ready-a" => o.ready[0] = Some(parse(&a, args.next())),
            "--ready-b" => o.ready[1] = Some(parse(&a, args.next())),
            "--network" => o.network = parse(&a, args.next()),
            "--image" => o.image = parse(&a, args.next()),
            "--wait-ready" => wait_ready = Some(parse(&a, args.next())),
            "--timeout" => timeout = parse(&a, args.next()),
            "--since-ns" => since_ns = Some(parse(&a, args.next())),
            "--populate" => populate = Some(parse(&a, args.next())),
            "--running" => running = parse(&a, args.next()),
            "--remove-all" => remove_all = true,
            "-h" | "--help" => usage(),
            s if s.starts_with('-') => {
                eprintln!("unknown flag {s}");
                usage()
            }
            _ => o.hosts.push(a),
        }
    }
    if let Some(host) = wait_ready {
        return wait_for_ping(&host, Duration::from_secs_f64(timeout), since_ns);
    }
    if o.hosts.is_empty() || o.hosts.len() > 2 || o.iterations == 0 || o.clients == 0 {
        usage();
    }
    if let Some(n) = populate {
        return populate_daemon(&o.hosts[0], &o, n, running);
    }
    if remove_all {
        return remove_all_containers(&o.hosts[0]);
    }
    if o.containers == 0 {
        o.containers = o.iterations.clamp(1, 100);
    }
    if o.runs == 0 {
        o.runs = o.iterations.clamp(1, 20);
    }

    let mut columns = Vec::new();
    for (i, host) in o.hosts.iter().enumerate() {
        eprintln!("== measuring {} ({host})", if i == 0 { "A" } else { "B" });
        let mut results = measure(host, &o, o.pids[i]);
        if let Some(ms) = o.ready[i] {
            results.insert(Row::Ready, Some(ms));
        }
        columns.push(results);
    }
    print_table(&o, &columns);
    ExitCode::SUCCESS
}

/// `--populate N --running M`: N containers of the bench image, the first M started (they
/// sleep), so a daemon restart can be timed with that population.
fn populate_daemon(host: &str, o: &Options, n: usize, running: usize) -> ExitCode {
    let socket = socket_from_host(host);
    let Ok(mut conn) = Conn::connect(&socket) else {
        eprintln!("cannot connect to {host}");
        return ExitCode::FAILURE;
    };
    for i in 0..n {
        let body = serde_json::to_vec(&json!({
            "Image": o.image,
            "Cmd": ["sleep", "86400"],
            "Labels": {"berth-bench": "population"},
            "HostConfig": {"NetworkMode": o.network},
        }))
        .expect("serialize");
        let r = conn.request(
            "POST",
            &format!("{API}/containers/create"),
            &[("Content-Type", "application/json")],
            &body,
        );
        let id = match r {
            Ok(r) if r.status == 201 => r.json()["Id"].as_str().unwrap_or("").to_string(),
            Ok(r) => {
                eprintln!("create: HTTP {} {}", r.status, r.text().trim());
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("create: {e}");
                return ExitCode::FAILURE;
            }
        };
        if i < running {
            match conn.request("POST", &format!("{API}/containers/{id}/start"), &[], b"") {
                Ok(r) if r.status == 204 => {}
                other => {
                    eprintln!("start: {other:?}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    ExitCode::SUCCESS
}

/// `--remove-all`: force-removes every container (the bench's clean-up).
fn remove_all_containers(host: &str) -> ExitCode {
    let socket = socket_from_host(host);
    let Ok(mut conn) = Conn::connect(&socket) else {
        return ExitCode::FAILURE;
    };
    let ids: Vec<String> = conn
        .request("GET", &format!("{API}/containers/json?all=1"), &[], b"")
        .map(|r| {
            r.json()
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|c| c["Id"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        })
        .unwrap_or_default();
    for id in ids {
        let _ = conn.request(
            "DELETE",
            &format!("{API}/containers/{id}?force=1"),
            &[],
            b"",
        );
    }
    ExitCode::SUCCESS
}

/// `--wait-ready`: polls `/_ping` until it answers 200, then prints the milliseconds since
/// `since_ns` (epoch nanoseconds; defaults to when polling began).
fn wait_for_ping(host: &str, timeout: Duration, since_ns: Option<u128>) -> ExitCode {
    let socket = socket_from_host(host);
    let start_ns = since_ns.unwrap_or_else(epoch_ns);
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(mut c) = Conn::connect(&socket) {
            c.timeout = Duration::from_secs(5);
            if let Ok(r) = c.request("GET", "/_ping", &[], b"")
                && r.status == 200
            {
                let ms = (epoch_ns().saturating_sub(start_ns)) as f64 / 1e6;
                println!("{ms:.1}");
                return ExitCode::SUCCESS;
            }
        }
        if Instant::now() >= deadline {
            eprintln!("{host}: no successful /_ping within {timeout:?}");
            return ExitCode::FAILURE;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

fn epoch_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Row {
    Ready,
    PingP50,
    PingP95,
    VersionP50,
    VersionP95,
    InfoP50,
    InfoP95,
    CreateP50,
    CreateP95,
    RunP50,
    RunP95,
    RunNoneP50,
    RunPublishedP50,
    RunUserNetworkP50,
    CliRunP50,
    ListP50,
    ListP95,
    InspectP50,
    InspectP95,
    ConcurrentRate,
    AttachLines,
    LogsLines,
    LoadBig,
    ImagesListP50,
    ImagesListP95,
    BuildCold,
    BuildCached,
    RssStart,
    RssWithContainers,
    RssEnd,
    RssTotalEnd,
}

impl Row {
    fn label(self, o: &Options) -> String {
        match self {
            Row::Ready => "ready: start to first _ping (ms)".into(),
            Row::PingP50 => "GET /_ping p50 (ms)".into(),
            Row::PingP95 => "GET /_ping p95 (ms)".into(),
            Row::VersionP50 => "GET /version p50 (ms)".into(),
            Row::VersionP95 => "GET /version p95 (ms)".into(),
            Row::InfoP50 => "GET /info p50 (ms)".into(),
            Row::InfoP95 => "GET /info p95 (ms)".into(),
            Row::CreateP50 => "create p50 (ms)".into(),
            Row::CreateP95 => "create p95 (ms)".into(),
            Row::RunP50 => format!("create+start+wait+rm, {}, p50 (ms)", o.network),
            Row::RunP95 => format!("create+start+wait+rm, {}, p95 (ms)", o.network),
            Row::RunNoneP50 => "create+start+wait+rm, none, p50 (ms)".into(),
            Row::RunPublishedP50 => format!(
                "create+start+wait+rm, {}, one published port, p50 (ms)",
                o.network
            ),
            Row::RunUserNetworkP50 => "create+start+wait+rm, user-defined network, p50 (ms)".into(),
            Row::CliRunP50 => format!("`docker run --rm {} true`, whole CLI, p50 (ms)", o.image),
            Row::ListP50 => format!("list all, {} containers, p50 (ms)", o.containers),
            Row::ListP95 => format!("list all, {} containers, p95 (ms)", o.containers),
            Row::InspectP50 => "inspect p50 (ms)".into(),
            Row::InspectP95 => "inspect p95 (ms)".into(),
            Row::ConcurrentRate => format!("run cycles, {} clients (ops/s)", o.clients),
            Row::AttachLines => format!("{LINES} lines through attach (ms)"),
            Row::LogsLines => format!("`logs` of those {LINES} lines (ms)"),
            Row::LoadBig => format!("docker load, {BIG_MIB} MiB image, median (ms)"),
            Row::ImagesListP50 => format!("GET /images/json, {LIST_IMAGES} images, p50 (ms)"),
            Row::ImagesListP95 => format!("GET /images/json, {LIST_IMAGES} images, p95 (ms)"),
            Row::BuildCold => "docker build, 10 steps, no cache, median (ms)".into(),
            Row::BuildCached => "docker build, 10 steps, all cached, median (ms)".into(),
            Row::RssStart => "daemon RSS before (MiB)".into(),
            Row::RssWithContainers => format!("daemon RSS with {} containers (MiB)", o.containers),
            Row::RssEnd => "daemon RSS after (MiB)".into(),
            Row::RssTotalEnd => "daemon+containerd RSS after (MiB)".into(),
        }
    }

    const ALL: [Row; 31] = [
        Row::Ready,
        Row::PingP50,
        Row::PingP95,
        Row::VersionP50,
        Row::VersionP95,
        Row::InfoP50,
        Row::InfoP95,
        Row::CreateP50,
        Row::CreateP95,
        Row::RunP50,
        Row::RunP95,
        Row::RunNoneP50,
        Row::RunPublishedP50,
        Row::RunUserNetworkP50,
        Row::CliRunP50,
        Row::ListP50,
        Row::ListP95,
        Row::InspectP50,
        Row::InspectP95,
        Row::ConcurrentRate,
        Row::AttachLines,
        Row::LogsLines,
        Row::LoadBig,
        Row::ImagesListP50,
        Row::ImagesListP95,
        Row::BuildCold,
        Row::BuildCached,
        Row::RssStart,
        Row::RssWithContainers,
        Row::RssEnd,
        Row::RssTotalEnd,
    ];
}

type Results = BTreeMap<Row, Option<f64>>;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn record(results: &mut Results, p50: Row, p95: Row, samples: Option<Vec<f64>>) {
    match samples {
        Some(mut s) if !s.is_empty() => {
            s.sort_by(|a, b| a.total_cmp(b));
            results.insert(p50, Some(percentile(&s, 50.0)));
            results.insert(p95, Some(percentile(&s, 95.0)));
        }
        _ => {
            results.insert(p50, None);
            results.insert(p95, None);
        }
    }
}

/// Times `n` requests of one kind on a kept-alive connection; None on any failure.
fn time_requests(
    conn: &mut Conn,
    method: &str,
    path: &str,
    n: usize,
    want: u16,
) -> Option<Vec<f64>> {
    let mut samples = Vec::with_capacity(n);
    // One untimed warm-up request.
    match conn.request(method, path, &[], b"") {
        Ok(r) if r.status == want => {}
        Ok(r) => {
            eprintln!("  {method} {path}: HTTP {} {}", r.status, r.text().trim());
            return None;
        }
        Err(e) => {
            eprintln!("  {method} {path}: {e}");
            return None;
        }
    }
    for _ in 0..n {
        let t = Instant::now();
        match conn.request(method, path, &[], b"") {
            Ok(r) if r.status == want => samples.push(ms(t.elapsed())),
            Ok(r) => {
                eprintln!("  {method} {path}: HTTP {} {}", r.status, r.text().trim());
                return None;
            }
            Err(e) => {
                eprintln!("  {method} {path}: {e}");
                return None;
            }
        }
    }
    Some(samples)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The daemon's pid: given, or the process listening on the socket.
fn daemon_pid(host: &str, given: Option<u32>) -> Option<u32> {
    given.or_else(|| procfs::unix_socket_owner(&socket_from_host(host)))
}

fn rss_mib(pid: Option<u32>) -> Option<f64> {
    Some(procfs::rss_kb(pid?)? as f64 / 1024.0)
}

/// Daemon RSS plus that of its direct children named containerd (its managed containerd).
fn rss_with_containerd_mib(pid: Option<u32>) -> Option<f64> {
    let pid = pid?;
    let mut kb = procfs::rss_kb(pid)?;
    for child in procfs::all_pids() {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let ppid: Option<u32> = after.split_whitespace().nth(1).and_then(|p| p.parse().ok());
        let is_containerd = procfs::cmdline(child)
            .first()
            .is_some_and(|exe| exe.rsplit('/').next() == Some("containerd"));
        if ppid == Some(pid) && is_containerd {
            kb += procfs::rss_kb(child).unwrap_or(0);
        }
    }
    Some(kb as f64 / 1024.0)
}

fn measure(host: &str, o: &Options, pid: Option<u32>) -> Results {
    let socket = socket_from_host(host);
    let pid = daemon_pid(host, pid);
    if pid.is_none() {
        eprintln!("  daemon pid unknown (pass --pid-a/--pid-b); RSS rows will be n/a");
    }
    let mut results = Results::new();
    results.insert(Row::RssStart, rss_mib(pid));
    let mut conn = match Conn::connect(&socket) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("  cannot connect to {}: {e}", socket.display());
            return results;
        }
    };
    let n = o.iterations;
    record(
        &mut results,
        Row::PingP50,
        Row::PingP95,
        time_requests(&mut conn, "GET", "/_ping", n, 200),
    );
    record(
        &mut results,
        Row::VersionP50,
        Row::VersionP95,
        time_requests(&mut conn, "GET", &format!("{API}/version"), n, 200),
    );
    record(
        &mut results,
        Row::InfoP50,
        Row::InfoP95,
        time_requests(&mut conn, "GET", &format!("{API}/info"), n, 200),
    );

    let bench = ContainerBench {
        socket: &socket,
        o,
        pid,
    };
    if bench.available(&mut conn) {
        bench.run_all(&mut conn, &mut results);
    } else {
        for row in [
            Row::CreateP50,
            Row::CreateP95,
            Row::RunP50,
            Row::RunP95,
            Row::RunNoneP50,
            Row::RunPublishedP50,
            Row::RunUserNetworkP50,
            Row::CliRunP50,
            Row::ListP50,
            Row::ListP95,
            Row::InspectP50,
            Row::InspectP95,
            Row::ConcurrentRate,
            Row::AttachLines,
            Row::LogsLines,
        ] {
            results.insert(row, None);
        }
    }
    // Images last: loading and removing them leaves containerd collecting garbage for a
    // while, which would weigh on the container rows of this daemon only.
    image_rows(&mut conn, o, &mut results);
    build_rows(&mut conn, o, &mut results);
    results.insert(Row::RssEnd, rss_mib(pid));
    results.insert(Row::RssTotalEnd, rss_with_containerd_mib(pid));
    results
}

/// How many lines the output rows push through attach and logs.
const LINES: usize = 1_000_000;

/// Checks that a multiplexed (stdcopy) stream holds exactly [`LINES`] lines of output.
fn check_lines(what: &str, stream: &[u8]) -> Result<(), String> {
    let lines = compat_tests::stdcopy_lines(stream);
    if lines == LINES {
        Ok(())
    } else {
        Err(format!("{what}: {lines} of {LINES} lines arrived"))
    }
}

/// Size of the image `docker load` is timed with.
const BIG_MIB: usize = 50;
/// How many images `GET /images/json` lists.
const LIST_IMAGES: usize = 100;

/// `docker load` of a large image (median of three, removed between runs) and the image list
/// with many images. Everything loaded is removed again.
fn image_rows(conn: &mut Conn, o: &Options, results: &mut Results) {
    use compat_tests::fixtures;
    // Incompressible-looking content, so neither side can cheat on it.
    let mut big = vec![0u8; BIG_MIB << 20];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for chunk in big.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    let mut spec = fixtures::ImageSpec::busybox().label("berth-bench", "big");
    spec.extra_files.push(("big.bin".into(), big));
    let image = spec.build();
    let tag = "berth-bench/big:1";
    let archive = std::fs::read(image.docker_archive(&[tag])).unwrap_or_default();
    let mut samples = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        match conn.request(
            "POST",
            &format!("{API}/images/load?quiet=1"),
            &[("Content-Type", "application/x-tar")],
            &archive,
        ) {
            Ok(r) if r.status == 200 && !r.text().contains("errorDetail") => {
                samples.push(ms(t.elapsed()))
            }
            Ok(r) => {
                eprintln!("  load: HTTP {} {}", r.status, r.text().trim());
                break;
            }
            Err(e) => {
                eprintln!("  load: {e}");
                break;
            }
        }
        let _ = conn.request("DELETE", &format!("{API}/images/{tag}?force=1"), &[], b"");
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    results.insert(Row::LoadBig, (samples.len() == 3).then(|| samples[1]));

    let images: Vec<fixtures::Image> = (0..LIST_IMAGES)
        .map(|i| {
            fixtures::ImageSpec::busybox()
                .label("berth-bench", &i.to_string())
                .build()
        })
        .collect();
    let tags: Vec<String> = (0..LIST_IMAGES)
        .map(|i| format!("berth-bench/list:{i}"))
        .collect();
    let tag_refs: Vec<[&str; 1]> = tags.iter().map(|t| [t.as_str()]).collect();
    let pairs: Vec<(&fixtures::Image, &[&str])> = images
        .iter()
        .zip(tag_refs.iter())
        .map(|(i, t)| (i, &t[..]))
        .collect();
    let archive = std::fs::read(fixtures::docker_archive(&pairs)).unwrap_or_default();
    let loaded = conn
        .request(
            "POST",
            &format!("{API}/images/load?quiet=1"),
            &[("Content-Type", "application/x-tar")],
            &archive,
        )
        .is_ok_and(|r| r.status == 200 && !r.text().contains("errorDetail"));
    let list = if loaded {
        time_requests(
            conn,
            "GET",
            &format!("{API}/images/json"),
            o.iterations.min(100),
            200,
        )
    } else {
        eprintln!("  loading {LIST_IMAGES} images failed; image list rows are n/a");
        None
    };
    record(results, Row::ImagesListP50, Row::ImagesListP95, list);
    for t in &tags {
        let _ = conn.request("DELETE", &format!("{API}/images/{t}?force=1"), &[], b"");
    }
}

/// The classic builder on a 10-step Dockerfile (config edits, COPYs and RUNs), built with
/// no cache and then entirely from the cache; three of each, the median kept.
fn build_rows(conn: &mut Conn, o: &Options, results: &mut Results) {
    use compat_tests::fixtures;
    let base = "berth-bench/build-base:1";
    let image = fixtures::ImageSpec::busybox()
        .label("berth-bench", "build")
        .build();
    let archive = std::fs::read(image.docker_archive(&[base])).unwrap_or_default();
    let loaded = conn
        .request(
            "POST",
            &format!("{API}/images/load?quiet=1"),
            &[("Content-Type", "application/x-tar")],
            &archive,
        )
        .is_ok_and(|r| r.status == 200 && !r.text().contains("errorDetail"));
    if !loaded {
        eprintln!("  loading the build base failed; build rows are n/a");
        return;
    }
    let dockerfile = format!(
        "FROM {base}\nENV A=1\nWORKDIR /app\nCOPY f1.txt ./\nRUN echo one > one.txt\n\
         RUN echo two > two.txt\nCOPY f2.txt ./\nLABEL bench=yes\nEXPOSE 8080\n\
         CMD [\"cat\", \"/app/one.txt\"]\n"
    );
    let mut tar = tar::Builder::new(Vec::new());
    for (name, body) in [
        ("Dockerfile", dockerfile.as_bytes()),
        ("f1.txt", b"first\n".as_slice()),
        ("f2.txt", b"second\n".as_slice()),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        let _ = tar.append_data(&mut h, name, body);
    }
    let context = tar.into_inner().unwrap_or_default();
    let mut build = |nocache: bool| -> Option<f64> {
        let t = Instant::now();
        let path = format!(
            "{API}/build?t=berth-bench/built:1&rm=1&networkmode={}&nocache={}",
            o.network,
            u8::from(nocache)
        );
        match conn.request(
            "POST",
            &path,
            &[("Content-Type", "application/x-tar")],
            &context,
        ) {
            Ok(r) if r.status == 200 && !r.text().contains("errorDetail") => Some(ms(t.elapsed())),
            Ok(r) => {
                eprintln!("  build: HTTP {} {}", r.status, r.text().trim());
                None
            }
            Err(e) => {
                eprintln!("  build: {e}");
                None
            }
        }
    };
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        (v.len() == 3).then(|| v[1])
    };
    let cold: Vec<f64> = (0..3).filter_map(|_| build(true)).collect();
    let cached: Vec<f64> = (0..3).filter_map(|_| build(false)).collect();
    results.insert(Row::BuildCold, median(cold));
    results.insert(Row::BuildCached, median(cached));
    let _ = conn.request(
        "DELETE",
        &format!("{API}/images/berth-bench/built:1?force=1"),
        &[],
        b"",
    );
    let _ = conn.request("DELETE", &format!("{API}/images/{base}?force=1"), &[], b"");
}

struct ContainerBench<'a> {
    socket: &'a std::path::Path,
    o: &'a Options,
    /// The daemon's pid, for its memory while the listed containers exist.
    pid: Option<u32>,
}

impl ContainerBench<'_> {
    /// A container running `cmd` on `network`; with `publish`, its port 8080 published on a
    /// port the daemon picks (`-p 8080`).
    fn create_body(&self, network: &str, cmd: &[&str], publish: bool) -> Vec<u8> {
        let mut body = json!({
            "Image": self.o.image,
            "Cmd": cmd,
            "Labels": {"berth-bench": "1"},
            "HostConfig": {"NetworkMode": network},
        });
        if publish {
            body["ExposedPorts"] = json!({"8080/tcp": {}});
            body["HostConfig"]["PortBindings"] = json!({"8080/tcp": [{"HostPort": ""}]});
        }
        serde_json::to_vec(&body).expect("serialize create body")
    }

    /// True if the daemon has container routes and the image.
    fn available(&self, conn: &mut Conn) -> bool {
        let path = format!("{API}/images/{}/json", self.o.image);
        match conn.request("GET", &path, &[], b"") {
            Ok(r) if r.status == 200 => true,
            Ok(r) => {
                eprintln!(
                    "  container rows n/a: GET {path} answered {} {}",
                    r.status,
                    r.text().trim()
                );
                false
            }
            Err(e) => {
                eprintln!("  container rows n/a: GET {path}: {e}");
                false
            }
        }
    }

    fn create(&self, conn: &mut Conn) -> Result<String, String> {
        self.create_on(conn, &self.o.network, &["true"], false)
    }

    fn create_on(
        &self,
        conn: &mut Conn,
        network: &str,
        cmd: &[&str],
        publish: bool,
    ) -> Result<String, String> {
        let r = conn
            .request(
                "POST",
                &format!("{API}/containers/create"),
                &[("Content-Type", "application/json")],
                &self.create_body(network, cmd, publish),
            )
            .map_err(|e| format!("create: {e}"))?;
        if r.status != 201 {
            return Err(format!("create: HTTP {} {}", r.status, r.text().trim()));
        }
        let v: Value = serde_json::from_slice(&r.body).map_err(|e| format!("create body: {e}"))?;
        v["Id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("create: no Id in {v}"))
    }

    fn call(
        &self,
        conn: &mut Conn,
        method: &str,
        path: &str,
        ok: &[u16],
    ) -> Result<Vec<u8>, String> {
        self.send(conn, method, path, &[], b"", ok)
    }

    /// [`Self::call`] with a JSON body.
    fn call_json(
        &self,
        conn: &mut Conn,
        method: &str,
        path: &str,
        body: &Value,
        ok: &[u16],
    ) -> Result<Vec<u8>, String> {
        let bytes = serde_json::to_vec(body).expect("serialize a request body");
        let headers = [("Content-Type", "application/json")];
        self.send(conn, method, path, &headers, &bytes, ok)
    }

    fn send(
        &self,
        conn: &mut Conn,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        ok: &[u16],
    ) -> Result<Vec<u8>, String> {
        let r = conn
            .request(method, path, headers, body)
            .map_err(|e| format!("{method} {path}: {e}"))?;
        if ok.contains(&r.status) {
            Ok(r.body)
        } else {
            Err(format!(
                "{method} {path}: HTTP {} {}",
                r.status,
                r.text().trim()
            ))
        }
    }

    fn remove(&self, conn: &mut Conn, id: &str) -> Result<(), String> {
        self.call(
            conn,
            "DELETE",
            &format!("{API}/containers/{id}?force=1"),
            &[204],
        )
        .map(|_| ())
    }

    /// create + start + wait + rm of one `true` container.
    fn cycle(&self, conn: &mut Conn) -> Result<(), String> {
        self.cycle_on(conn, &self.o.network, false)
    }

    fn cycle_on(&self, conn: &mut Conn, network: &str, publish: bool) -> Result<(), String> {
        let id = self.create_on(conn, network, &["true"], publish)?;
        let result = (|| {
            self.call(
                conn,
                "POST",
                &format!("{API}/containers/{id}/start"),
                &[204],
            )?;
            let body = self.call(conn, "POST", &format!("{API}/containers/{id}/wait"), &[200])?;
            let v: Value = serde_json::from_slice(&body).map_err(|e| format!("wait body: {e}"))?;
            if v["StatusCode"] != 0 {
                return Err(format!("container exited with {v}"));
            }
            Ok(())
        })();
        let removed = self.remove(conn, &id);
        result.and(removed)
    }

    /// The median time of `runs` calls of `f`, or None when one fails.
    fn median_of(&self, runs: usize, mut f: impl FnMut() -> Result<(), String>) -> Option<f64> {
        let mut samples = Vec::new();
        for _ in 0..runs.max(1) {
            let t = Instant::now();
            if let Err(e) = f() {
                eprintln!("  {e}");
                return None;
            }
            samples.push(ms(t.elapsed()));
        }
        samples.sort_by(f64::total_cmp);
        Some(percentile(&samples, 50.0))
    }

    /// `docker run --rm IMAGE true` through the stock CLI, as a user types it.
    fn cli_run(&self) -> Result<(), String> {
        let out = std::process::Command::new("docker")
            .env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .args(["run", "--rm", &self.o.image, "true"])
            .output()
            .map_err(|e| format!("docker run: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "docker run: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// A container printing [`LINES`] lines: the time from start until an attached client
    /// has read them all, then the time `logs` takes to answer them all. Every line must
    /// arrive both ways.
    fn lines_rows(&self, conn: &mut Conn) -> (Option<f64>, Option<f64>) {
        let result = (|| -> Result<(f64, f64), String> {
            let id = self.create_on(
                conn,
                "none",
                &["/bin/busybox", "seq", "1", &LINES.to_string()],
                false,
            )?;
            let outcome = (|| {
                let mut s = std::os::unix::net::UnixStream::connect(self.socket)
                    .map_err(|e| format!("attach: {e}"))?;
                use std::io::{Read as _, Write as _};
                write!(
                    s,
                    "POST {API}/containers/{id}/attach?stream=1&stdout=1 HTTP/1.1\r\n\
                     Host: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
                )
                .map_err(|e| format!("attach: {e}"))?;
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    s.read_exact(&mut byte)
                        .map_err(|e| format!("attach head: {e}"))?;
                    head.push(byte[0]);
                }
                let t = Instant::now();
                self.call(
                    conn,
                    "POST",
                    &format!("{API}/containers/{id}/start"),
                    &[204],
                )?;
                let mut body = Vec::new();
                s.read_to_end(&mut body)
                    .map_err(|e| format!("attach: {e}"))?;
                let attach_ms = ms(t.elapsed());
                check_lines("attach", &body)?;
                self.call(conn, "POST", &format!("{API}/containers/{id}/wait"), &[200])?;
                let t = Instant::now();
                let logs = self.call(
                    conn,
                    "GET",
                    &format!("{API}/containers/{id}/logs?stdout=1"),
                    &[200],
                )?;
                let logs_ms = ms(t.elapsed());
                check_lines("logs", &logs)?;
                Ok((attach_ms, logs_ms))
            })();
            let _ = self.remove(conn, &id);
            outcome
        })();
        match result {
            Ok((a, l)) => (Some(a), Some(l)),
            Err(e) => {
                eprintln!("  lines: {e}");
                (None, None)
            }
        }
    }

    fn cleanup(&self, conn: &mut Conn, ids: &[String]) {
        for id in ids {
            if let Err(e) = self.remove(conn, id) {
                eprintln!("  cleanup: {e}");
            }
        }
    }

    fn run_all(&self, conn: &mut Conn, results: &mut Results) {
        let o = self.o;
        // Create latency (containers removed afterwards, untimed).
        let mut ids = Vec::new();
        let mut samples = Vec::new();
        let mut failed = false;
        for _ in 0..o.runs {
            let t = Instant::now();
            match self.create(conn) {
                Ok(id) => {
                    samples.push(ms(t.elapsed()));
                    ids.push(id);
                }
                Err(e) => {
                    eprintln!("  {e}");
                    failed = true;
                    break;
                }
            }
        }
        self.cleanup(conn, &ids);
        record(
            results,
            Row::CreateP50,
            Row::CreateP95,
            (!failed).then_some(samples),
        );

        // Full run cycle latency.
        let mut samples = Vec::new();
        let mut failed = false;
        for _ in 0..o.runs {
            let t = Instant::now();
            if let Err(e) = self.cycle(conn) {
                eprintln!("  {e}");
                failed = true;
                break;
            }
            samples.push(ms(t.elapsed()));
        }
        record(
            results,
            Row::RunP50,
            Row::RunP95,
            (!failed).then_some(samples),
        );
        results.insert(
            Row::RunNoneP50,
            self.median_of(o.runs, || self.cycle_on(conn, "none", false)),
        );
        results.insert(
            Row::RunPublishedP50,
            self.median_of(o.runs, || self.cycle_on(conn, &o.network, true)),
        );
        // A user-defined network, as compose makes one per project.
        let made = self.call_json(
            conn,
            "POST",
            &format!("{API}/networks/create"),
            &json!({"Name": USER_NETWORK, "Labels": {"berth-bench": "1"}}),
            &[201],
        );
        results.insert(
            Row::RunUserNetworkP50,
            match made {
                Ok(_) => self.median_of(o.runs, || self.cycle_on(conn, USER_NETWORK, false)),
                Err(e) => {
                    eprintln!("  {e}");
                    None
                }
            },
        );
        let _ = self.call(
            conn,
            "DELETE",
            &format!("{API}/networks/{USER_NETWORK}"),
            &[204, 404],
        );
        results.insert(Row::CliRunP50, self.median_of(o.runs, || self.cli_run()));
        let (attach, logs) = self.lines_rows(conn);
        results.insert(Row::AttachLines, attach);
        results.insert(Row::LogsLines, logs);

        // List and inspect with M created containers present.
        let mut ids = Vec::new();
        let mut failed = false;
        for _ in 0..o.containers {
            match self.create(conn) {
                Ok(id) => ids.push(id),
                Err(e) => {
                    eprintln!("  {e}");
                    failed = true;
                    break;
                }
            }
        }
        if failed || ids.is_empty() {
            record(results, Row::ListP50, Row::ListP95, None);
            record(results, Row::InspectP50, Row::InspectP95, None);
        } else {
            let list = time_requests(
                conn,
                "GET",
                &format!("{API}/containers/json?all=1"),
                o.iterations,
                200,
            );
            record(results, Row::ListP50, Row::ListP95, list);
            let inspect = time_requests(
                conn,
                "GET",
                &format!("{API}/containers/{}/json", ids[0]),
                o.iterations,
                200,
            );
            record(results, Row::InspectP50, Row::InspectP95, inspect);
        }
        results.insert(Row::RssWithContainers, rss_mib(self.pid));
        self.cleanup(conn, &ids);

        // K clients, each on its own connection, running cycles concurrently.
        let per_client = o.runs.max(1);
        let start = Instant::now();
        let outcomes: Vec<Result<usize, String>> = thread::scope(|s| {
            let handles: Vec<_> = (0..o.clients)
                .map(|_| {
                    s.spawn(move || {
                        let mut c =
                            Conn::connect(self.socket).map_err(|e| format!("connect: {e}"))?;
                        for _ in 0..per_client {
                            self.cycle(&mut c)?;
                        }
                        Ok(per_client)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("client panicked".into())))
                .collect()
        });
        let elapsed = start.elapsed().as_secs_f64();
        let mut done = 0;
        let mut error = None;
        for r in outcomes {
            match r {
                Ok(n) => done += n,
                Err(e) => error = Some(e),
            }
        }
        match error {
            Some(e) => {
                eprintln!("  concurrent: {e}");
                results.insert(Row::ConcurrentRate, None);
            }
            None => {
                results.insert(Row::ConcurrentRate, Some(done as f64 / elapsed));
            }
        }
    }
}

fn fmt_value(v: Option<&Option<f64>>) -> String {
    match v {
        Some(Some(x)) if x.is_finite() => {
            if x.abs() >= 100.0 {
                format!("{x:.1}")
            } else if x.abs() >= 10.0 {
                format!("{x:.2}")
            } else {
                format!("{x:.3}")
            }
        }
        _ => "n/a".into(),
    }
}

fn print_table(o: &Options, columns: &[Results]) {
    let two = columns.len() == 2;
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut header = vec!["measure".to_string(), "A".to_string()];
    if two {
        header.push("B".into());
        header.push("A/B".into());
    }
    rows.push(header);
    for row in Row::ALL {
        if columns.iter().all(|c| !c.contains_key(&row)) {
            continue;
        }
        let mut line = vec![row.label(o), fmt_value(columns[0].get(&row))];
        if two {
            line.push(fmt_value(columns[1].get(&row)));
            let ratio = match (columns[0].get(&row), columns[1].get(&row)) {
                (Some(Some(a)), Some(Some(b))) if *b > 0.0 && a.is_finite() => {
                    format!("{:.2}", a / b)
                }
                _ => "n/a".into(),
            };
            line.push(ratio);
        }
        rows.push(line);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    println!("A = {}", o.hosts[0]);
    if two {
        println!("B = {}", o.hosts[1]);
    }
    println!(
        "{} requests per latency row; {} sequential runs; {} clients x {} runs concurrently",
        o.iterations, o.runs, o.clients, o.runs
    );
    if two {
        println!("A/B below 1 favours A on ms and MiB rows; above 1 favours A on ops/s rows");
    }
    for (i, r) in rows.iter().enumerate() {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(j, c)| {
                if j == 0 {
                    format!("{c:<w$}", w = widths[j])
                } else {
                    format!("{c:>w$}", w = widths[j])
                }
            })
            .collect();
        println!("| {} |", cells.join(" | "));
        if i == 0 {
            let seps: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            println!("|-{}-|", seps.join("-|-"));
        }
    }
}
