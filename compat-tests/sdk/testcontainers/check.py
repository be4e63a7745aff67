#!/usr/bin/env python3
"""testcontainers-python 4.15 against a Docker Engine API daemon.

Environment: DOCKER_HOST (unix://... socket of the daemon under test) and
SDK_IMAGE (a busybox already on that daemon). Prints `ok <name>` or
`FAIL <name>: <reason>` per check and exits 0 only if every check passed.
Everything created carries the label berth-sdk-test=<run id> and is removed
at the end, whatever happened.
"""

import os

# testcontainers reads its configuration at import time, so this comes first.
# Ryuk's image cannot be pulled here; the reaper's daemon traffic is
# reproduced by hand in check_ryuk_socket_client instead.
os.environ["TESTCONTAINERS_RYUK_DISABLED"] = "true"
# This machine has /.dockerenv, which makes testcontainers guess the host as
# the default route's gateway, an address off this machine. Published ports
# are reached on loopback only.
os.environ["TC_HOST"] = "localhost"
os.environ["TESTCONTAINERS_CONNECTION_MODE"] = "docker_host"
# The library default waits up to 120 s for a container to be running;
# keep every internal wait well inside this script's budget.
os.environ["TC_MAX_TRIES"] = "60"
os.environ["TC_POOLING_INTERVAL"] = "0.25"

import datetime
import ipaddress
import pathlib
import re
import signal
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
import uuid

import docker.api.client
import docker.errors
import docker.models.images
from testcontainers.core.config import ConnectionMode
from testcontainers.core.container import DockerContainer, ExecConfig
from testcontainers.core.docker_client import DockerClient, get_docker_host, is_podman
from testcontainers.core.labels import LABEL_SESSION_ID, SESSION_ID
from testcontainers.core.network import Network
from testcontainers.core.wait_strategies import (
    ExecWaitStrategy,
    HealthcheckWaitStrategy,
    HttpWaitStrategy,
    LogMessageWaitStrategy,
    PortWaitStrategy,
)
from testcontainers.core.waiting_utils import wait_for_logs



def _refuse_pull(*args, **kwargs):
    raise RuntimeError("refusing to pull: the image must already be on the daemon")


# DockerClient.create() pulls when the image is missing; nothing here may reach a registry.
docker.api.client.APIClient.pull = _refuse_pull
docker.models.images.ImageCollection.pull = _refuse_pull

DOCKER_HOST = os.environ.get("DOCKER_HOST", "")
IMAGE = os.environ.get("SDK_IMAGE", "busybox:latest")
RUN = uuid.uuid4().hex[:12]
LABEL_KEY = "berth-sdk-test"
LABEL = f"{LABEL_KEY}={RUN}"
LABELS = {LABEL_KEY: RUN}
CLIENT_KW = {"timeout": 20}

SOFT_DEADLINE = 70  # seconds: stop starting checks, go to cleanup
HARD_DEADLINE = 86  # seconds: give up entirely, even if cleanup hangs

HTTP_CMD = (
    "sh -c 'mkdir -p /w && echo tc-ok > /w/index.html && echo tc-stderr >&2 "
    "&& echo listening && exec httpd -f -p 8080 -h /w'"
)

# Fallback for cleanup in case the daemon's label filter is what is broken.
TRACKED = {"containers": set(), "networks": set(), "volumes": set()}
RESULTS = []


class Deadline(BaseException):
    """Not an Exception: wait loops in testcontainers swallow those and retry."""


def one_line(text):
    return " ".join(str(text).split())[:600]


def record(name, err=None):
    if err is None:
        print(f"ok {name}", flush=True)
        RESULTS.append((name, True))
    else:
        print(f"FAIL {name}: {one_line(err)}", flush=True)
        RESULTS.append((name, False))


def run_check(name, fn):
    try:
        fn()
    except Deadline:
        record(name, "soft deadline reached")
        raise
    except AssertionError as e:
        record(name, str(e) or traceback.format_exc(limit=2))
    except Exception as e:
        record(name, f"{type(e).__name__}: {e}")
        if os.environ.get("SDK_DEBUG"):
            traceback.print_exc()
    else:
        record(name)


def new_client():
    return DockerClient(**CLIENT_KW)


def labelled(**extra):
    return {**LABELS, **extra}


def container(command, **kwargs):
    kwargs.setdefault("labels", labelled())
    return DockerContainer(IMAGE, docker_client_kw=CLIENT_KW, command=command, **kwargs)


def start(tc):
    """Start, remembering the id even when the wait strategy fails."""
    try:
        tc.start()
    finally:
        if tc._container is not None:
            TRACKED["containers"].add(tc._container.id)
    return tc


def http_get(host, port, path="/", within=10.0):
    """GET from this host; retried because httpd binds just after its echo."""
    url = f"http://{host}:{port}{path}"
    end = time.time() + within
    last = None
    while time.time() < end:
        try:
            with urllib.request.urlopen(url, timeout=3) as resp:
                return resp.status, resp.read().decode()
        except OSError as e:
            last = e
            time.sleep(0.2)
    raise AssertionError(f"GET {url} failed for {within}s: {last}")


RFC3339_SECONDS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$")
RFC3339_NANO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")


def parse_rfc3339(value, pattern, what):
    assert isinstance(value, str), f"{what} is {value!r}, not a string"
    assert pattern.match(value), f"{what} {value!r} is not RFC 3339 of the shape dockerd gives"
    # fromisoformat takes at most 6 fractional digits; Go gives up to 9.
    trimmed = re.sub(r"(\.\d{6})\d+", r"\1", value)
    parsed = datetime.datetime.fromisoformat(trimmed)
    assert parsed.tzinfo is not None, f"{what} {value!r} has no zone"
    return parsed


def assert_recent(when, what, slack=300):
    now = datetime.datetime.now(datetime.timezone.utc)
    delta = abs((now - when).total_seconds())
    assert delta < slack, f"{what} {when.isoformat()} is {delta:.0f}s away from now"


def in_subnet(client, network_name, ip):
    net = client.client.api.inspect_network(network_name)
    subnets = [c.get("Subnet") for c in (net.get("IPAM") or {}).get("Config") or [] if c.get("Subnet")]
    addr = ipaddress.ip_address(ip)
    assert any(addr in ipaddress.ip_network(s, strict=False) for s in subnets), (
        f"{ip} is in none of {network_name}'s subnets {subnets}"
    )


# ---------------------------------------------------------------- checks


def check_daemon():
    assert DOCKER_HOST, "DOCKER_HOST is not set"
    assert get_docker_host() == DOCKER_HOST, f"get_docker_host() gave {get_docker_host()!r}"
    client = new_client()
    assert client.client.ping() is True, "ping did not answer OK"
    # Refuse to go on if the image is missing: create() would pull it.
    client.client.images.get(IMAGE)
    # testcontainers asks /version to tell Podman from Docker.
    assert is_podman() is False, "is_podman() says the daemon is Podman"
    assert client.host() == "localhost", f"host() gave {client.host()!r}"
    assert client.get_connection_mode() == ConnectionMode.docker_host
    client.client.close()


STATE = {}


def check_http_log_wait():
    tc = (
        container(HTTP_CMD)
        .with_exposed_ports(8080)
        .waiting_for(LogMessageWaitStrategy("listening").with_startup_timeout(20))
    )
    start(tc)
    STATE["http"] = tc
    host = tc.get_container_host_ip()
    port = tc.get_exposed_port(8080)
    assert host == "localhost", f"get_container_host_ip() gave {host!r}"
    assert 0 < int(port) < 65536, f"get_exposed_port(8080) gave {port!r}"
    try:
        status, body = http_get(host, port)
    except AssertionError as e:
        cid = tc.get_container_id()
        ip = tc.get_docker_client().bridge_ip(cid)
        raise AssertionError(f"{e} (published from container {ip} on the default bridge)") from None
    assert status == 200 and body == "tc-ok\n", f"GET / gave {status} {body!r}"


def need_http():
    tc = STATE.get("http")
    assert tc is not None, "the HTTP container did not start"
    return tc


def check_logs_split():
    tc = need_http()
    out, err = tc.get_logs()
    assert b"listening" in out and b"tc-stderr" not in out, f"stdout logs {out!r}"
    assert b"tc-stderr" in err and b"listening" not in err, f"stderr logs {err!r}"


def check_port_mapping():
    tc = need_http()
    client = tc.get_docker_client()
    cid = tc.get_container_id()
    bindings = client.client.api.port(cid, 8080)
    assert bindings, f"port(8080) gave {bindings!r}"
    ports = {b.get("HostPort") for b in bindings}
    assert len(ports) == 1, f"bindings disagree on the host port: {bindings}"
    assert str(tc.get_exposed_port(8080)) in ports


def check_network_introspection():
    tc = need_http()
    client = tc.get_docker_client()
    cid = tc.get_container_id()
    listed = client.get_container(cid)  # GET /containers/json?filters={"id":[...]}
    assert listed["Id"] == cid, f"id filter listed {listed['Id']}"
    assert client.network_name(cid) == "bridge", f"network_name gave {client.network_name(cid)!r}"
    gw = client.gateway_ip(cid)
    ip = client.bridge_ip(cid)
    ipaddress.IPv4Address(gw)
    ipaddress.IPv4Address(ip)
    in_subnet(client, "bridge", ip)
    in_subnet(client, "bridge", gw)
    assert client.find_host_network() is None, "find_host_network() found a network for localhost"


def check_inspect_info():
    tc = need_http()
    info = tc.get_container_info()
    assert info is not None, "get_container_info() failed to parse inspect"
    assert info.Id == tc.get_container_id()
    assert info.State is not None and info.State.Status == "running", f"State {info.State}"
    assert info.State.Running is True and info.State.Pid, f"State {info.State}"
    assert info.Config is not None and info.Config.Labels.get(LABEL_KEY) == RUN, "labels lost"
    assert info.Config.Labels.get(LABEL_SESSION_ID) == SESSION_ID, "session label lost"
    nets = info.NetworkSettings.get_networks() if info.NetworkSettings else None
    assert nets and "bridge" in nets, f"networks {nets}"
    ports = info.NetworkSettings.Ports or {}
    assert ports.get("8080/tcp"), f"Ports {ports}"
    assert info.HostConfig is not None


def check_http_and_port_waits():
    tc = need_http()
    HttpWaitStrategy(8080).for_response_predicate(lambda b: "tc-ok" in b).with_startup_timeout(10).wait_until_ready(tc)
    PortWaitStrategy(8080).with_startup_timeout(10).wait_until_ready(tc)


def check_exec():
    tc = need_http()
    res = tc.exec(["cat", "/w/index.html"])
    assert (res.exit_code, res.output) == (0, b"tc-ok\n"), f"exec cat gave {res}"
    res = tc.exec(
        ExecConfig(
            command=["sh", "-c", 'echo "$TC_E:$(pwd):$(id -u)"'],
            environment={"TC_E": "env-ok"},
            workdir="/w",
            user="nobody",
        )
    )
    assert (res.exit_code, res.output) == (0, b"env-ok:/w:65534\n"), f"exec with config gave {res}"
    res = tc.exec(["sh", "-c", "exit 5"])
    assert res.exit_code == 5, f"exec exit code {res.exit_code}"
    ExecWaitStrategy(["test", "-f", "/w/index.html"]).with_startup_timeout(10).wait_until_ready(tc)


def check_copy():
    tc = need_http()
    tc.copy_into_container(b"copied-in\n", "/tmp/tc-in.txt", 0o600)
    res = tc.exec(["sh", "-c", "cat /tmp/tc-in.txt; stat -c %a /tmp/tc-in.txt"])
    assert res.output == b"copied-in\n600\n", f"after copy in: {res}"
    with tempfile.TemporaryDirectory() as d:
        dest = pathlib.Path(d) / "out.html"
        tc.copy_from_container("/w/index.html", dest)
        assert dest.read_bytes() == b"tc-ok\n", f"copied out {dest.read_bytes()!r}"


def check_stop_removes():
    tc = need_http()
    cid = tc.get_container_id()
    STATE.pop("http")
    tc.stop()
    client = new_client()
    try:
        client.client.api.inspect_container(cid)
    except docker.errors.NotFound:
        pass
    else:
        raise AssertionError("container still there after stop()")
    finally:
        client.client.close()


def check_exit_code():
    tc = container("sh -c 'echo bye; exit 7'")
    start(tc)
    try:
        assert tc.wait() == 7, "wait() did not give 7"
        tc.reload()
        assert tc.status == "exited", f"status {tc.status}"
    finally:
        tc.stop()
    # A log wait must notice that the container died instead of waiting out its timeout.
    tc = container("sh -c 'echo nope; exit 3'").waiting_for(
        LogMessageWaitStrategy("never-printed").with_startup_timeout(15)
    )
    began = time.time()
    try:
        start(tc)
    except RuntimeError as e:
        assert "exit code: 3" in str(e), f"wait error {e}"
        assert time.time() - began < 12, "exit noticed only after the timeout"
    else:
        raise AssertionError("start() succeeded although the log never came")
    finally:
        tc.stop()


def check_healthcheck_wait():
    hc = {"test": ["CMD-SHELL", "test -f /tmp/ready"], "interval": 200_000_000, "retries": 50}
    tc = container("sh -c 'sleep 1; touch /tmp/ready; exec sleep 60'", healthcheck=hc)
    tc.waiting_for(HealthcheckWaitStrategy().with_startup_timeout(20))
    try:
        start(tc)
        tc.reload()
        health = tc.get_wrapped_container().attrs["State"]["Health"]
        assert health["Status"] == "healthy", f"health {health}"
    finally:
        tc.stop()


def check_env_tmpfs_name():
    name = f"berth-sdk-{RUN}-named"
    tc = (
        container("sleep 60")
        .with_name(name)
        .with_env("TC_VAR", "v1")
        # The size goes to the daemon verbatim as the mount options, so it must
        # be spelled as an option (check_tmpfs_bare_size covers the bare form).
        .with_tmpfs_mount("/scratch", "size=1m")
        .with_tmpfs_mount("/scratch2")
    )
    try:
        start(tc)
        res = tc.exec(["sh", "-c", 'echo "$TC_VAR"; grep -c "^tmpfs /scratch2\\? " /proc/mounts'])
        assert res.output == b"v1\n2\n", f"env/tmpfs: {res}"
        res = tc.exec(["sh", "-c", "df -k /scratch | tail -1"])
        fields = res.output.split()
        assert len(fields) > 1 and fields[1] == b"1024", f"/scratch size: {res.output!r}"
        attrs = tc.get_wrapped_container().attrs
        assert attrs["Name"] == "/" + name, f"Name {attrs['Name']}"
        tmpfs = attrs["HostConfig"].get("Tmpfs")
        assert tmpfs == {"/scratch": "size=1m", "/scratch2": ""}, f"HostConfig.Tmpfs {tmpfs}"
    finally:
        tc.stop()


def check_tmpfs_bare_size():
    # The documented with_tmpfs_mount("/x", "1m") sends Tmpfs {"/x": "1m"}: dockerd
    # accepts the create and refuses the start; a testcontainers user sees that error.
    tc = container("sleep 60").with_tmpfs_mount("/scratch", "1m")
    try:
        start(tc)
    except docker.errors.APIError as e:
        assert tc._container is not None, f"create refused, not start: {e}"
        assert e.status_code == 500, f"start answered {e.status_code}: {e.explanation}"
        assert "invalid tmpfs option" in str(e.explanation), f"start error {e.explanation!r}"
    else:
        raise AssertionError("start accepted Tmpfs {'/scratch': '1m'}")
    finally:
        tc.stop()


def check_network_aliases():
    net = Network(docker_client_kw=CLIENT_KW, docker_network_kw={"labels": labelled()})
    net.create()
    TRACKED["networks"].add(net.id)
    server = container(HTTP_CMD).with_network(net).with_network_aliases("tc-web", "tc-web2")
    try:
        start(server)
        wait_for_logs(server, LogMessageWaitStrategy("listening"), timeout=20, interval=0.25)
        client = server.get_docker_client()
        cid = server.get_container_id()
        assert client.network_name(cid) == net.name, f"network_name {client.network_name(cid)!r}"
        ip = client.bridge_ip(cid)
        in_subnet(client, net.name, ip)
        in_subnet(client, net.name, client.gateway_ip(cid))
        aliases = client.client.api.inspect_container(cid)["NetworkSettings"]["Networks"][net.name]["Aliases"]
        assert {"tc-web", "tc-web2"} <= set(aliases or []), f"Aliases {aliases}"
        # Container to container on the test's own bridge, by alias.
        # Debian's busybox wget segfaults with -T, so the timeout is outside it.
        peer = container("timeout 10 wget -q -O - http://tc-web2:8080/").with_network(net)
        try:
            start(peer)
            code = peer.get_wrapped_container().wait(timeout=15)["StatusCode"]
            out, err = peer.get_logs()
            assert code == 0 and out == b"tc-ok\n", f"wget by alias: exit {code} out {out!r} err {err!r}"
        finally:
            peer.stop()
    finally:
        server.stop()
        net.remove()


def socket_path():
    if not DOCKER_HOST.startswith("unix://"):
        raise AssertionError(f"DOCKER_HOST {DOCKER_HOST!r} is not a unix socket")
    return DOCKER_HOST[len("unix://") :]


# Runs inside a busybox with the daemon's socket and the static docker CLI, doing
# what Ryuk does from its container. The inner resources get a label of their own
# because the outer container carries the run label too and must not reap itself.
RYUK_SCRIPT = r"""
set -e
inner="berth-sdk-inner=$RUN"
cid=$(docker create --pull never --label "$OUTER" --label "$inner" "$IMG" sleep 30)
docker start "$cid" >/dev/null
net=$(docker network create --label "$OUTER" --label "$inner" "berth-sdk-$RUN-inner")
vol=$(docker volume create --label "$OUTER" --label "$inner" "berth-sdk-$RUN-inner")
echo "created $cid $net $vol"
got=$(docker ps -a -q --no-trunc --filter "label=$inner")
[ "$got" = "$cid" ] || { echo "ps listed [$got] want [$cid]"; exit 11; }
docker rm -f -v $(docker ps -a -q --filter "label=$inner") >/dev/null
got=$(docker network ls -q --no-trunc --filter "label=$inner")
[ "$got" = "$net" ] || { echo "network ls listed [$got] want [$net]"; exit 12; }
docker network rm $got >/dev/null
got=$(docker volume ls -q --filter "label=$inner")
[ "$got" = "$vol" ] || { echo "volume ls listed [$got] want [$vol]"; exit 13; }
docker volume rm -f $got >/dev/null
left="$(docker ps -a -q --filter "label=$inner")$(docker network ls -q --filter "label=$inner")$(docker volume ls -q --filter "label=$inner")"
[ -z "$left" ] || { echo "left behind [$left]"; exit 14; }
echo "reaped $cid"
"""


def check_ryuk_socket_client():
    sock = socket_path()
    tc = (
        container(["sh", "-c", RYUK_SCRIPT])
        .with_volume_mapping(sock, "/var/run/docker.sock", "rw")
        .with_volume_mapping("/usr/local/bin/docker", "/usr/local/bin/docker", "ro")
        .with_env("RUN", RUN)
        .with_env("OUTER", LABEL)
        .with_env("IMG", IMAGE)
    )
    try:
        start(tc)
        code = tc.get_wrapped_container().wait(timeout=40)["StatusCode"]
        out, err = tc.get_logs()
        assert code == 0, f"in-container docker CLI exit {code}: stdout {out!r} stderr {err!r}"
        m = re.search(rb"^created ([0-9a-f]{64}) ([0-9a-f]{64}) (\S+)$", out, re.M)
        assert m and b"reaped " + m.group(1) in out, f"unexpected output {out!r}"
        cid, nid, vol = (g.decode() for g in m.groups())
        TRACKED["containers"].add(cid)
        TRACKED["networks"].add(nid)
        TRACKED["volumes"].add(vol)
        # What the outer side sees through the API once the reaper is done.
        api = tc.get_docker_client().client.api
        inner = f"berth-sdk-inner={RUN}"
        assert api.containers(all=True, filters={"label": inner}) == [], "inner container still listed"
        assert api.networks(filters={"label": inner}) == [], "inner network still listed"
        assert not (api.volumes(filters={"label": inner}).get("Volumes") or []), "inner volume still listed"
        for getter, ident in ((api.inspect_container, cid), (api.inspect_network, nid), (api.inspect_volume, vol)):
            try:
                getter(ident)
            except docker.errors.NotFound:
                continue
            raise AssertionError(f"{getter.__name__}({ident}) still finds it")
    finally:
        tc.stop()


def check_label_reap_host_side():
    client = new_client()
    api = client.client.api
    reap = f"berth-sdk-reap={RUN}"
    try:
        # The way testcontainers itself creates containers: its DockerClient adds the session labels.
        running = client.create(IMAGE, command="sleep 60", labels=labelled(**{"berth-sdk-reap": RUN}))
        TRACKED["containers"].add(running.id)
        running.start()
        stopped = client.create(IMAGE, command="true", labels=labelled(**{"berth-sdk-reap": RUN}))
        TRACKED["containers"].add(stopped.id)
        decoy = client.create(IMAGE, command="true", labels=labelled(**{"berth-sdk-reap": RUN + "-decoy"}))
        TRACKED["containers"].add(decoy.id)
        net = Network(docker_client_kw=CLIENT_KW, docker_network_kw={"labels": labelled(**{"berth-sdk-reap": RUN})})
        net.create()
        TRACKED["networks"].add(net.id)
        vol = client.client.volumes.create(labels=labelled(**{"berth-sdk-reap": RUN}))
        TRACKED["volumes"].add(vol.name)
        want = {running.id, stopped.id}

        # Ryuk: list everything matching its filter, refuse anything created after it began.
        began = time.time() + 1
        got = api.containers(all=True, filters={"label": reap})
        assert {c["Id"] for c in got} == want, f"label={reap} listed {[c['Id'] for c in got]}"
        for c in got:
            assert isinstance(c["Created"], int) and c["Created"] <= began, f"container Created {c['Created']!r}"
        session = f"{LABEL_SESSION_ID}={SESSION_ID}"
        got = api.containers(all=True, filters={"label": [reap, session]})
        assert {c["Id"] for c in got} == want, f"two-label filter listed {[c['Id'] for c in got]}"
        got = api.containers(all=True, filters={"label": "berth-sdk-reap"})
        assert {c["Id"] for c in got} == want | {decoy.id}, f"key-only filter listed {[c['Id'] for c in got]}"
        got = api.containers(filters={"label": reap})
        assert [c["Id"] for c in got] == [running.id], f"running-only listed {[c['Id'] for c in got]}"

        nets = api.networks(filters={"label": reap})
        assert [n["Id"] for n in nets] == [net.id], f"networks listed {[n['Id'] for n in nets]}"
        created = parse_rfc3339(nets[0]["Created"], RFC3339_NANO, "network Created")
        assert_recent(created, "network Created")
        assert net.id in [n["Id"] for n in api.networks(filters={"label": session})], "session filter on networks"

        vols = api.volumes(filters={"label": reap}).get("Volumes") or []
        assert [v["Name"] for v in vols] == [vol.name], f"volumes listed {[v['Name'] for v in vols]}"
        assert_recent(parse_rfc3339(vols[0]["CreatedAt"], RFC3339_SECONDS, "volume CreatedAt"), "volume CreatedAt")

        imgs = api.images(filters={"label": reap})
        assert imgs == [], f"images listed {imgs}"

        # Ryuk's removal options: force + volumes, force for volumes.
        for cid in want:
            api.remove_container(cid, force=True, v=True)
        api.remove_network(net.id)
        api.remove_volume(vol.name, force=True)

        assert api.containers(all=True, filters={"label": reap}) == [], "containers left after reap"
        assert api.networks(filters={"label": reap}) == [], "networks left after reap"
        assert not (api.volumes(filters={"label": reap}).get("Volumes") or []), "volumes left after reap"
        assert api.inspect_container(decoy.id)["Id"] == decoy.id, "decoy vanished"
    finally:
        client.client.close()


def check_volume_created_at():
    client = new_client()
    api = client.client.api
    name = f"berth-sdk-{RUN}-vol"
    try:
        created = api.create_volume(name, labels=labelled())
        TRACKED["volumes"].add(name)
        shown = api.inspect_volume(name)
        listed = [v for v in api.volumes(filters={"name": name}).get("Volumes") or [] if v["Name"] == name]
        assert len(listed) == 1, f"volume list by name gave {listed}"
        stamps = {
            "create": created.get("CreatedAt"),
            "inspect": shown.get("CreatedAt"),
            "list": listed[0].get("CreatedAt"),
        }
        for where, value in stamps.items():
            when = parse_rfc3339(value, RFC3339_SECONDS, f"CreatedAt from {where}")
            assert_recent(when, f"CreatedAt from {where}")
        assert len(set(stamps.values())) == 1, f"CreatedAt differs: {stamps}"
        api.remove_volume(name)
    finally:
        client.client.close()


def check_custom_network_filter():
    net = Network(docker_client_kw=CLIENT_KW, docker_network_kw={"labels": labelled()})
    net.create()
    TRACKED["networks"].add(net.id)
    client = new_client()
    try:
        # find_host_network() walks this list and each network's IPAM.Config.
        custom = client.client.networks.list(filters={"type": "custom"})
        names = {n.name for n in custom}
        assert net.name in names, f"type=custom misses {net.name}"
        assert not names & {"bridge", "host", "none"}, f"type=custom lists predefined {names}"
        mine = [n for n in custom if n.name == net.name][0]
        configs = mine.attrs["IPAM"]["Config"]
        assert configs and all(ipaddress.ip_network(c["Subnet"]) for c in configs), f"IPAM {configs}"
        builtin = {n.name for n in client.client.networks.list(filters={"type": "builtin"})}
        assert {"bridge", "host", "none"} <= builtin and net.name not in builtin, f"type=builtin {builtin}"
        assert client.find_host_network() is None
    finally:
        net.remove()
        client.client.close()


# ---------------------------------------------------------------- cleanup


def cleanup():
    """Remove what this run made: by label first, then by remembered id."""
    client = docker.DockerClient(base_url=DOCKER_HOST, version="auto", timeout=15)
    api = client.api
    by_label = {"label": LABEL}
    try:
        cids = {c["Id"] for c in api.containers(all=True, filters=by_label)} | TRACKED["containers"]
        for cid in cids:
            try:
                api.remove_container(cid, force=True, v=True)
            except docker.errors.NotFound:
                pass
        nids = {n["Id"] for n in api.networks(filters=by_label)} | TRACKED["networks"]
        for nid in nids:
            try:
                api.remove_network(nid)
            except docker.errors.NotFound:
                pass
        vols = {v["Name"] for v in api.volumes(filters=by_label).get("Volumes") or []} | TRACKED["volumes"]
        for vol in vols:
            try:
                api.remove_volume(vol, force=True)
            except docker.errors.NotFound:
                pass
        left = [c["Id"][:12] for c in api.containers(all=True, filters=by_label)]
        left += [n["Name"] for n in api.networks(filters=by_label)]
        left += [v["Name"] for v in api.volumes(filters=by_label).get("Volumes") or []]
        for cid in TRACKED["containers"]:
            try:
                api.inspect_container(cid)
                left.append(cid[:12])
            except docker.errors.NotFound:
                pass
        assert not left, f"left behind: {sorted(set(left))}"
    finally:
        client.close()


def service_image(var):
    image = os.environ.get(var)
    assert image, f"{var} is not set (scripts/service-images builds the image it names)"
    return image


def check_redis_module():
    from testcontainers.community.redis import RedisContainer

    rc = RedisContainer(service_image("SDK_REDIS_IMAGE"), docker_client_kw=CLIENT_KW, labels=labelled())
    try:
        start(rc)
        client = rc.get_client(socket_timeout=10)
        assert client.ping(), "PING"
        client.set("tc-key", "tc-value")
        assert client.get("tc-key") == b"tc-value", "GET after SET"
        assert client.incr("tc-count") == 1 and client.incr("tc-count") == 2, "INCR"
    finally:
        rc.stop()


def check_postgres_module():
    from testcontainers.community.postgres import PostgresContainer

    pg = PostgresContainer(
        service_image("SDK_POSTGRES_IMAGE"),
        username="tc",
        password="tc-secret",
        dbname="tcdb",
        docker_client_kw=CLIENT_KW,
        labels=labelled(),
    )
    try:
        # Waits with psql as that user on that database, as the module does.
        start(pg)
        url = pg.get_connection_url(driver=None)
        port = pg.get_exposed_port(5432)
        assert url == f"postgresql://tc:tc-secret@localhost:{port}/tcdb", f"url {url}"
        sql = "create table t (x int); insert into t values (40), (2); select sum(x) from t"
        code, out = pg.exec(["psql", "-U", "tc", "-d", "tcdb", "-h", "127.0.0.1", "-qtA", "-c", sql])
        assert code == 0 and out.strip() == b"42", f"psql exit {code}: {out!r}"
        # The published port answers from this host.
        import socket

        with socket.create_connection(("127.0.0.1", int(port)), timeout=5):
            pass
    finally:
        pg.stop()


CHECKS = [
    ("daemon_and_client", check_daemon),
    ("http_container_log_wait", check_http_log_wait),
    ("logs_split_stdout_stderr", check_logs_split),
    ("port_mapping", check_port_mapping),
    ("network_introspection", check_network_introspection),
    ("container_inspect_info", check_inspect_info),
    ("http_and_port_wait_strategies", check_http_and_port_waits),
    ("exec", check_exec),
    ("copy_into_and_from", check_copy),
    ("stop_removes_container", check_stop_removes),
    ("exit_code_and_log_wait_on_exit", check_exit_code),
    ("healthcheck_wait", check_healthcheck_wait),
    ("env_tmpfs_name", check_env_tmpfs_name),
    ("tmpfs_bare_size_refused_at_start", check_tmpfs_bare_size),
    ("network_aliases", check_network_aliases),
    ("ryuk_socket_client", check_ryuk_socket_client),
    ("label_filter_reap_host_side", check_label_reap_host_side),
    ("volume_created_at_rfc3339", check_volume_created_at),
    ("custom_network_filter", check_custom_network_filter),
    ("redis_module", check_redis_module),
    ("postgres_module", check_postgres_module),
]


def hard_stop():
    print(f"FAIL watchdog: still running after {HARD_DEADLINE}s, exiting without full cleanup", flush=True)
    os._exit(1)


def on_alarm(signum, frame):
    raise Deadline()


def main():
    watchdog = threading.Timer(HARD_DEADLINE, hard_stop)
    watchdog.daemon = True
    watchdog.start()
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(SOFT_DEADLINE)
    skipped = "not run: soft deadline reached"
    try:
        for name, fn in CHECKS:
            run_check(name, fn)
            if name == "daemon_and_client" and not RESULTS[-1][1]:
                skipped = "not run: daemon or image unusable"
                break
    except Deadline:
        pass
    finally:
        signal.alarm(0)
        done = {n for n, _ in RESULTS}
        for name, _ in CHECKS:
            if name not in done:
                record(name, skipped)
        tc = STATE.pop("http", None)
        if tc is not None:
            try:
                tc.stop()
            except Exception:
                pass
        run_check("cleanup_by_label", cleanup)
        watchdog.cancel()
    return 0 if all(ok for _, ok in RESULTS) else 1


if __name__ == "__main__":
    sys.exit(main())
