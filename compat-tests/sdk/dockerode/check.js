'use strict';
// dockerode compatibility check: drives a daemon through dockerode the way its users do and
// prints `ok <name>` or `FAIL <name>: <reason>` per check. The same script runs against
// berthd and against dockerd (the referee), so every expectation here must hold on dockerd.
//
//   DOCKER_HOST=unix:///path/to.sock SDK_IMAGE=busybox:latest node check.js
//
// DOCKER_API_VERSION (e.g. 1.41) pins the request prefix; unset, requests go unversioned, as
// dockerode sends them by default, so only behaviour common to API 1.41 and newer is asserted.

const Docker = require('dockerode');
// tar-stream comes with dockerode (through tar-fs); the lockfile pins it.
const tar = require('tar-stream');
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');
const { PassThrough, Readable } = require('stream');

const GLOBAL_TIMEOUT_MS = 50000;
const CHECK_TIMEOUT_MS = 15000;
const CLEANUP_TIMEOUT_MS = 8000;

const IMAGE = process.env.SDK_IMAGE;
const RUN_ID = `${Date.now().toString(36)}-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
const LABEL_KEY = 'berth-sdk-test';
const LABELS = { [LABEL_KEY]: RUN_ID };
const LABEL_FILTER = `${LABEL_KEY}=${RUN_ID}`;
const PREFIX = `bsdk-${RUN_ID}`;

function dockerFromEnv() {
  const host = process.env.DOCKER_HOST || 'unix:///var/run/docker.sock';
  const opts = {};
  if (host.startsWith('unix://')) {
    opts.socketPath = host.slice('unix://'.length);
  } else if (host.startsWith('/')) {
    opts.socketPath = host;
  } else if (/^(tcp|http):\/\//.test(host)) {
    const u = new URL(host.replace(/^tcp:/, 'http:'));
    opts.host = u.hostname;
    opts.port = Number(u.port) || 2375;
    opts.protocol = 'http';
  } else {
    throw new Error(`unsupported DOCKER_HOST ${host}`);
  }
  if (process.env.DOCKER_API_VERSION) {
    opts.version = 'v' + process.env.DOCKER_API_VERSION.replace(/^v/, '');
  }
  return new Docker(opts);
}

let docker;
try {
  docker = dockerFromEnv();
} catch (err) {
  console.log(`FAIL setup: ${err.message}`);
  process.exit(1);
}

// Everything created is recorded here the moment its id is known, so cleanup finds it even
// when the check that made it failed halfway.
const created = { containers: new Set(), networks: new Set(), volumes: new Set(), images: new Set() };

let passed = 0;
let failed = 0;

function oneLine(err) {
  return String(err && err.message !== undefined ? err.message : err).replace(/\s+/g, ' ').trim();
}

class CheckError extends Error {}

function fail(msg) {
  throw new CheckError(msg);
}

function show(v) {
  return JSON.stringify(v);
}

// JSON with object keys sorted: key order carries no meaning in the API.
function canon(v) {
  if (Array.isArray(v)) return v.map(canon);
  if (v && typeof v === 'object' && !Buffer.isBuffer(v)) {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])]));
  }
  return v;
}

function eq(actual, expected, what) {
  const a = JSON.stringify(canon(actual));
  const e = JSON.stringify(canon(expected));
  if (a !== e) fail(`${what}: got ${a}, want ${e}`);
}

function truthy(cond, what) {
  if (!cond) fail(what);
}

function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new CheckError(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

async function check(name, fn) {
  try {
    await withTimeout(Promise.resolve().then(fn), CHECK_TIMEOUT_MS, 'check');
    passed++;
    console.log(`ok ${name}`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${name}: ${oneLine(err)}`);
  }
}

// The error dockerode rejects with carries the HTTP status; a check that expects an error
// asserts that status.
async function expectStatus(promise, status, what) {
  try {
    await promise;
  } catch (err) {
    if (err.statusCode === status) return err;
    fail(`${what}: want HTTP ${status}, got ${err.statusCode === undefined ? oneLine(err) : `HTTP ${err.statusCode}: ${oneLine(err)}`}`);
  }
  fail(`${what}: want HTTP ${status}, got success`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function fullRef(ref) {
  // A reference without a tag means :latest; a digest or tag after the last slash counts.
  const last = ref.split('/').pop();
  return last.includes(':') || last.includes('@') ? ref : `${ref}:latest`;
}

let finished = false;

// Once cleanup has begun (global timeout), a check still running must create nothing more.
function guard() {
  if (finished) fail('run is finishing');
}

async function createContainer(suffix, spec) {
  guard();
  const name = `${PREFIX}-${suffix}`;
  const c = await docker.createContainer({
    name,
    Image: IMAGE,
    Labels: { ...LABELS },
    ...spec,
  });
  created.containers.add(c.id);
  return { c, name };
}

// Splits a multiplexed stream with dockerode's own demuxer; resolves when the daemon ends it.
function collectDemux(stream) {
  return new Promise((resolve, reject) => {
    const out = [];
    const err = [];
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      resolve({ stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    };
    docker.modem.demuxStream(stream, { write: (b) => out.push(Buffer.from(b)) }, { write: (b) => err.push(Buffer.from(b)) });
    stream.on('end', finish);
    stream.on('close', finish);
    stream.on('error', (e) => {
      if (!done) {
        done = true;
        reject(e);
      }
    });
  });
}

function demuxBuffer(buf) {
  return collectDemux(Readable.from([buf]));
}

async function execOutput(container, cmd, extra = {}) {
  const exec = await container.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true, ...extra });
  const sock = await exec.start({ hijack: true, stdin: false });
  const out = await withTimeout(collectDemux(sock), 10000, 'exec output');
  sock.destroy();
  const info = await execFinished(exec);
  return { ...out, exitCode: info.ExitCode, exec, info };
}

// The stream can end a moment before the daemon records the exit, on dockerd too, so users
// poll inspect until Running drops.
async function execFinished(exec) {
  const deadline = Date.now() + 5000;
  for (;;) {
    const info = await exec.inspect();
    if (!info.Running) return info;
    if (Date.now() > deadline) fail(`exec ${exec.id} still running after 5 s`);
    await sleep(50);
  }
}

// Waits up to 5 s until the container's stdout log holds `text`.
async function logsShow(c, text) {
  const deadline = Date.now() + 5000;
  while (!(await c.logs({ stdout: true })).toString().includes(text)) {
    if (Date.now() > deadline) fail(`no "${text}" in the logs after 5 s`);
    await sleep(50);
  }
}

// Reads newline-delimited JSON objects from a stream until `enough(objects)` says so.
function readJsonLines(stream, enough, ms, what) {
  return withTimeout(
    new Promise((resolve, reject) => {
      const objs = [];
      let buf = '';
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        resolve(objs);
      };
      stream.on('data', (chunk) => {
        if (done) return;
        buf += chunk.toString();
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i).trim();
          buf = buf.slice(i + 1);
          if (!line) continue;
          try {
            objs.push(JSON.parse(line));
          } catch (e) {
            done = true;
            reject(new CheckError(`${what}: not JSON: ${line.slice(0, 120)}`));
            return;
          }
          if (enough(objs)) return finish();
        }
      });
      stream.on('end', finish);
      stream.on('close', finish);
      stream.on('error', (e) => {
        if (!done) {
          done = true;
          reject(e);
        }
      });
    }),
    ms,
    what,
  );
}

function isRfc3339(s) {
  return typeof s === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(s) && !s.startsWith('0001-');
}

// Memoised: several checks share one long-running container.
let workerPromise = null;
function worker() {
  if (!workerPromise) {
    workerPromise = (async () => {
      const w = await createContainer('worker', { Cmd: ['sleep', '300'] });
      await w.c.start();
      return w;
    })();
  }
  return workerPromise;
}

let imageInfo = null;

// The events of a past window; `until` stays a little behind now so the stream ends at once.
async function pastEvents(since, filters) {
  await sleep(20);
  const until = ((Date.now() - 5) / 1000).toFixed(3);
  const stream = await docker.getEvents({ since, until, filters });
  return readJsonLines(stream, () => false, 5000, 'past events');
}

// A random /24 in 172.30.200-249 keeps clear of the daemons' default pools and of
// parallel runs.
async function createSubnetNetwork(name, internal) {
  guard();
  for (let attempt = 0; attempt < 3; attempt++) {
    const octet = 200 + crypto.randomInt(50);
    try {
      const net = await docker.createNetwork({
        Name: name,
        Driver: 'bridge',
        Internal: internal,
        Labels: { ...LABELS },
        IPAM: { Driver: 'default', Config: [{ Subnet: `172.30.${octet}.0/24`, Gateway: `172.30.${octet}.1` }] },
      });
      created.networks.add(net.id);
      return { net, octet };
    } catch (e) {
      if (!/overlap/i.test(String(e.message))) throw e;
    }
  }
  fail('no free 172.30.x.0/24 subnet in three tries');
}

function httpGet(port) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', timeout: 2000 }, (res) => {
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(parts).toString()) : reject(new Error(`HTTP ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

// Labels the image itself carries: containers and images made from it show them too.
let IMAGE_LABELS = {};
const withImageLabels = (own) => ({ ...IMAGE_LABELS, ...own });

async function main() {
  if (!IMAGE) {
    failed++;
    console.log('FAIL setup: SDK_IMAGE is not set');
    return;
  }
  try {
    IMAGE_LABELS = (await docker.getImage(IMAGE).inspect()).Config.Labels || {};
  } catch (e) {
    // The image checks report a missing image.
  }

  await check('ping', async () => {
    const res = await docker.ping();
    eq(Buffer.isBuffer(res) ? res.toString() : res, 'OK', '/_ping body');
  });

  await check('version', async () => {
    const v = await docker.version();
    truthy(typeof v.Version === 'string' && v.Version, `Version missing: ${show(v)}`);
    truthy(/^\d+\.\d+$/.test(v.ApiVersion), `ApiVersion ${show(v.ApiVersion)}`);
    eq(v.Os, 'linux', 'Os');
  });

  await check('info', async () => {
    const i = await docker.info();
    truthy(Number.isInteger(i.Containers) && Number.isInteger(i.Images), `Containers/Images not integers: ${i.Containers}/${i.Images}`);
    eq(i.OSType, 'linux', 'OSType');
    truthy(typeof i.ID === 'string' && i.ID.length > 0, 'ID empty');
  });

  await check('image_inspect', async () => {
    const img = await docker.getImage(IMAGE).inspect();
    truthy(/^sha256:[0-9a-f]{64}$/.test(img.Id), `Id ${show(img.Id)}`);
    truthy(Array.isArray(img.RepoTags) && img.RepoTags.includes(fullRef(IMAGE)), `RepoTags ${show(img.RepoTags)} lacks ${fullRef(IMAGE)}`);
    eq(img.Os, 'linux', 'Os');
    truthy(typeof img.Architecture === 'string' && img.Architecture, 'Architecture empty');
    truthy(Number.isInteger(img.Size) && img.Size > 0, `Size ${show(img.Size)}`);
    eq(img.RootFS && img.RootFS.Type, 'layers', 'RootFS.Type');
    truthy(Array.isArray(img.RootFS.Layers) && img.RootFS.Layers.length > 0, 'RootFS.Layers empty');
    truthy(isRfc3339(img.Created), `Created ${show(img.Created)}`);
    truthy(img.Config && Array.isArray(img.Config.Cmd), `Config.Cmd ${show(img.Config && img.Config.Cmd)}`);
    imageInfo = img;
  });

  await check('image_inspect_missing_is_404', async () => {
    const err = await expectStatus(docker.getImage(`berth-sdk-no-such-image:${RUN_ID}`).inspect(), 404, 'inspect of a missing image');
    truthy(/no such image/i.test(err.message), `message ${show(err.message)}`);
  });

  await check('list_images', async () => {
    const all = await docker.listImages();
    const mine = all.filter((i) => (i.RepoTags || []).includes(fullRef(IMAGE)));
    eq(mine.length, 1, `images tagged ${fullRef(IMAGE)}`);
    if (imageInfo) eq(mine[0].Id, imageInfo.Id, 'listed Id vs inspect Id');
    truthy(Number.isInteger(mine[0].Created) && mine[0].Created > 0, `Created ${show(mine[0].Created)}`);
    truthy(Number.isInteger(mine[0].Size), `Size ${show(mine[0].Size)}`);
    const filtered = await docker.listImages({ filters: { reference: [fullRef(IMAGE)] } });
    eq(filtered.map((i) => i.Id), [mine[0].Id], 'reference filter');
  });

  await check('image_history', async () => {
    const h = await docker.getImage(IMAGE).history();
    truthy(Array.isArray(h) && h.length > 0, `history ${show(h)}`);
    if (imageInfo) eq(h[0].Id, imageInfo.Id, 'newest entry Id');
    truthy((h[0].Tags || []).includes(fullRef(IMAGE)), `newest entry Tags ${show(h[0].Tags)}`);
    for (const e of h) {
      truthy(Number.isInteger(e.Created) && Number.isInteger(e.Size) && typeof e.CreatedBy === 'string' && typeof e.Comment === 'string', `entry ${show(e)}`);
    }
  });

  await check('image_tag_and_untag', async () => {
    const repo = `${PREFIX}-img`;
    const ref = `${repo}:t1`;
    created.images.add(ref);
    guard();
    await docker.getImage(IMAGE).tag({ repo, tag: 't1' });
    const img = await docker.getImage(ref).inspect();
    if (imageInfo) eq(img.Id, imageInfo.Id, 'tagged Id');
    truthy(img.RepoTags.includes(ref) && img.RepoTags.includes(fullRef(IMAGE)), `RepoTags ${show(img.RepoTags)}`);
    const listed = await docker.listImages({ filters: { reference: [ref] } });
    eq(listed.map((i) => i.Id), [img.Id], 'reference filter on the new tag');
    const res = await docker.getImage(ref).remove();
    eq(res, [{ Untagged: ref }], 'remove of an extra tag only untags');
    created.images.delete(ref);
    await expectStatus(docker.getImage(ref).inspect(), 404, 'inspect of the removed tag');
    // The image itself stays under its first name.
    await docker.getImage(IMAGE).inspect();
  });

  // Attached before start, so nothing the process writes can be missed.
  const attachCmd = 'echo out; echo err >&2; exit 3';
  let attached = null;
  await check('attach_demux_and_wait', async () => {
    const a = await createContainer('attach', { Cmd: ['sh', '-c', attachCmd] });
    attached = a;
    const stream = await a.c.attach({ stream: true, stdout: true, stderr: true });
    const output = withTimeout(collectDemux(stream), 10000, 'attach stream');
    await a.c.start();
    const w = await a.c.wait();
    const { stdout, stderr } = await output;
    eq(stdout, 'out\n', 'stdout');
    eq(stderr, 'err\n', 'stderr');
    eq(w.StatusCode, 3, 'wait StatusCode');
  });

  await check('wait_on_exited_container', async () => {
    truthy(attached, 'no attach container');
    const w = await attached.c.wait();
    eq(w.StatusCode, 3, 'StatusCode');
  });

  await check('attach_logs_replay_after_exit', async () => {
    truthy(attached, 'no attach container');
    const stream = await attached.c.attach({ stream: false, logs: true, stdout: true, stderr: true });
    const { stdout, stderr } = await withTimeout(collectDemux(stream), 5000, 'attach logs');
    eq(stdout, 'out\n', 'stdout');
    eq(stderr, 'err\n', 'stderr');
  });

  await check('container_inspect_exited', async () => {
    truthy(attached, 'no attach container');
    const i = await attached.c.inspect();
    eq(i.Id, attached.c.id, 'Id');
    truthy(/^[0-9a-f]{64}$/.test(i.Id), `Id ${show(i.Id)}`);
    eq(i.Name, `/${attached.name}`, 'Name');
    eq(i.Path, 'sh', 'Path');
    eq(i.Args, ['-c', attachCmd], 'Args');
    truthy(isRfc3339(i.Created), `Created ${show(i.Created)}`);
    if (imageInfo) eq(i.Image, imageInfo.Id, 'Image');
    eq(i.State.Status, 'exited', 'State.Status');
    eq(i.State.Running, false, 'State.Running');
    eq(i.State.Paused, false, 'State.Paused');
    eq(i.State.OOMKilled, false, 'State.OOMKilled');
    eq(i.State.Dead, false, 'State.Dead');
    eq(i.State.Pid, 0, 'State.Pid');
    eq(i.State.ExitCode, 3, 'State.ExitCode');
    truthy(isRfc3339(i.State.StartedAt), `StartedAt ${show(i.State.StartedAt)}`);
    truthy(isRfc3339(i.State.FinishedAt), `FinishedAt ${show(i.State.FinishedAt)}`);
    // No order between the two: dockerd 20.10 itself often stamps a fast exit before the start.
    eq(i.RestartCount, 0, 'RestartCount');
    eq(i.Platform, 'linux', 'Platform');
    eq(i.Config.Image, IMAGE, 'Config.Image');
    eq(i.Config.Cmd, ['sh', '-c', attachCmd], 'Config.Cmd');
    eq(i.Config.Labels, withImageLabels(LABELS), 'Config.Labels');
    truthy((i.Config.Env || []).some((e) => e.startsWith('PATH=')), `Config.Env ${show(i.Config.Env)}`);
    eq(i.Config.Tty, false, 'Config.Tty');
    eq(i.Config.AttachStdout, false, 'Config.AttachStdout');
    // dockerd 20.10 stores "default"; moby 26 and later store the bridge it means.
    truthy(['default', 'bridge'].includes(i.HostConfig.NetworkMode), `HostConfig.NetworkMode ${show(i.HostConfig.NetworkMode)}`);
    eq(i.HostConfig.AutoRemove, false, 'HostConfig.AutoRemove');
    eq(i.Mounts, [], 'Mounts');
    truthy(i.NetworkSettings && i.NetworkSettings.Networks && i.NetworkSettings.Networks.bridge, `NetworkSettings.Networks ${show(i.NetworkSettings && i.NetworkSettings.Networks)}`);
    eq(i.NetworkSettings.Networks.bridge.IPAddress, '', 'exited container keeps no IP');
  });

  await check('list_containers_filters', async () => {
    truthy(attached, 'no attach container');
    const list = await docker.listContainers({ all: true, filters: { label: [LABEL_FILTER], name: [attached.name] } });
    eq(list.map((c) => c.Id), [attached.c.id], 'label+name filter');
    const c = list[0];
    eq(c.Names, [`/${attached.name}`], 'Names');
    eq(c.Image, IMAGE, 'Image');
    if (imageInfo) eq(c.ImageID, imageInfo.Id, 'ImageID');
    // dockerd shell-quotes each argument that needs it.
    eq(c.Command, `sh -c '${attachCmd}'`, 'Command');
    eq(c.State, 'exited', 'State');
    truthy(/^Exited \(3\) /.test(c.Status), `Status ${show(c.Status)}`);
    eq(c.Labels, withImageLabels(LABELS), 'Labels');
    truthy(Number.isInteger(c.Created), `Created ${show(c.Created)}`);
    const running = await docker.listContainers({ filters: { label: [LABEL_FILTER], name: [attached.name] } });
    eq(running, [], 'without all=1 an exited container is not listed');
    const exited = await docker.listContainers({ all: true, filters: { label: [LABEL_FILTER], status: ['exited'], exited: ['3'] } });
    truthy(exited.some((x) => x.Id === attached.c.id), 'status=exited&exited=3 misses it');
    const other = await docker.listContainers({ all: true, filters: { label: [LABEL_FILTER], exited: ['0'] } });
    truthy(!other.some((x) => x.Id === attached.c.id), 'exited=0 lists it');
  });

  await check('logs_follow_until_exit', async () => {
    const script = 'for i in 1 2 3; do echo line$i; echo err$i >&2; sleep 0.2; done; echo end';
    const { c } = await createContainer('logs', { Cmd: ['sh', '-c', script] });
    await c.start();
    const stream = await c.logs({ follow: true, stdout: true, stderr: true });
    const { stdout, stderr } = await withTimeout(collectDemux(stream), 10000, 'followed logs');
    eq(stdout, 'line1\nline2\nline3\nend\n', 'stdout');
    eq(stderr, 'err1\nerr2\nerr3\n', 'stderr');
    const w = await c.wait();
    eq(w.StatusCode, 0, 'StatusCode');

    // Without follow dockerode hands back the whole multiplexed body as a Buffer.
    const tail = await c.logs({ stdout: true, stderr: true, tail: 1 });
    truthy(Buffer.isBuffer(tail), `tail=1 body is ${typeof tail}`);
    const t = await demuxBuffer(tail);
    eq([t.stdout, t.stderr], ['end\n', ''], 'tail=1');

    const stamped = await demuxBuffer(await c.logs({ stdout: true, timestamps: true }));
    const lines = stamped.stdout.split('\n').filter(Boolean);
    eq(lines.length, 4, 'timestamped stdout lines');
    for (const l of lines) {
      const [ts, rest] = [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)];
      truthy(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{1,9}Z$/.test(ts), `timestamp ${show(ts)}`);
      truthy(/^(line\d|end)$/.test(rest), `line ${show(rest)}`);
    }
    const errOnly = await demuxBuffer(await c.logs({ stderr: true }));
    eq([errOnly.stdout, errOnly.stderr], ['', 'err1\nerr2\nerr3\n'], 'stderr only');
  });

  await check('exec_demux_and_exit_code', async () => {
    const w = await worker();
    const r = await execOutput(w.c, ['sh', '-c', 'echo exec-out; echo exec-err >&2; exit 5']);
    eq(r.stdout, 'exec-out\n', 'stdout');
    eq(r.stderr, 'exec-err\n', 'stderr');
    eq(r.exitCode, 5, 'ExitCode');
    eq(r.info.ContainerID, w.c.id, 'ContainerID');
    eq(r.info.Running, false, 'Running');
    eq(r.info.ProcessConfig.entrypoint, 'sh', 'ProcessConfig.entrypoint');
    eq(r.info.ProcessConfig.arguments, ['-c', 'echo exec-out; echo exec-err >&2; exit 5'], 'ProcessConfig.arguments');
    eq(r.info.ProcessConfig.tty, false, 'ProcessConfig.tty');
    eq([r.info.OpenStdin, r.info.OpenStdout, r.info.OpenStderr], [false, true, true], 'OpenStdin/Stdout/Stderr');
    truthy(Number.isInteger(r.info.Pid), `Pid ${show(r.info.Pid)}`);
  });

  await check('exec_env_workdir_user', async () => {
    const w = await worker();
    const r = await execOutput(w.c, ['sh', '-c', 'echo $FOO; pwd; id -u'], { Env: ['FOO=bar baz'], WorkingDir: '/tmp', User: '65534' });
    eq(r.stdout, 'bar baz\n/tmp\n65534\n', 'stdout');
    eq(r.stderr, '', 'stderr');
    eq(r.exitCode, 0, 'ExitCode');
  });

  await check('exec_missing_binary', async () => {
    const w = await worker();
    const exec = await w.c.exec({ Cmd: ['/no/such/binary'], AttachStdout: true, AttachStderr: true });
    const sock = await exec.start({ hijack: true, stdin: false });
    await withTimeout(collectDemux(sock), 10000, 'exec output');
    sock.destroy();
    const info = await execFinished(exec);
    eq(info.ExitCode, 126, 'ExitCode');
  });

  await check('exec_on_stopped_container_is_409', async () => {
    truthy(attached, 'no attach container');
    await expectStatus(attached.c.exec({ Cmd: ['true'], AttachStdout: true }), 409, 'exec create on an exited container');
  });

  await check('stats_one_shot', async () => {
    const w = await worker();
    const s = await w.c.stats({ stream: false });
    eq(s.id, w.c.id, 'id');
    eq(s.name, `/${w.name}`, 'name');
    truthy(isRfc3339(s.read), `read ${show(s.read)}`);
    truthy(isRfc3339(s.preread), `preread ${show(s.preread)}`);
    truthy(Date.parse(s.read) > Date.parse(s.preread), `read ${s.read} not after preread ${s.preread}`);
    truthy(s.cpu_stats && s.cpu_stats.cpu_usage && s.cpu_stats.cpu_usage.total_usage > 0, `cpu_stats ${show(s.cpu_stats)}`);
    truthy(s.cpu_stats.online_cpus >= 1, `online_cpus ${show(s.cpu_stats.online_cpus)}`);
    truthy(s.cpu_stats.system_cpu_usage > 0, `system_cpu_usage ${show(s.cpu_stats.system_cpu_usage)}`);
    truthy(s.precpu_stats && s.precpu_stats.cpu_usage && s.precpu_stats.cpu_usage.total_usage > 0, `precpu_stats ${show(s.precpu_stats)}`);
    truthy(s.memory_stats && s.memory_stats.usage > 0 && s.memory_stats.limit > 0, `memory_stats ${show(s.memory_stats)}`);
    truthy(s.pids_stats && s.pids_stats.current >= 1, `pids_stats ${show(s.pids_stats)}`);
    truthy(s.networks && s.networks.eth0 && Number.isInteger(s.networks.eth0.rx_bytes), `networks ${show(s.networks)}`);
    truthy(s.blkio_stats && typeof s.blkio_stats === 'object', `blkio_stats ${show(s.blkio_stats)}`);
  });

  await check('stats_stream_samples', async () => {
    const w = await worker();
    const stream = await w.c.stats();
    let samples;
    try {
      samples = await readJsonLines(stream, (objs) => objs.length >= 2, 8000, 'stats stream');
    } finally {
      stream.destroy();
    }
    eq(samples.length, 2, 'samples before the stream ended');
    const [a, b] = samples;
    eq([a.id, b.id], [w.c.id, w.c.id], 'ids');
    truthy(Date.parse(b.read) > Date.parse(a.read), `second read ${b.read} not after first ${a.read}`);
    eq(b.preread, a.read, "second sample's preread");
    eq(b.precpu_stats.cpu_usage.total_usage, a.cpu_stats.cpu_usage.total_usage, "second sample's precpu total_usage");
    eq(b.precpu_stats.system_cpu_usage, a.cpu_stats.system_cpu_usage, "second sample's precpu system_cpu_usage");
  });

  await check('stats_of_stopped_container', async () => {
    truthy(attached, 'no attach container');
    const s = await attached.c.stats({ stream: false });
    eq(s.name, `/${attached.name}`, 'name');
    eq(s.pids_stats, {}, 'pids_stats');
    eq(s.read, '0001-01-01T00:00:00Z', 'read');
  });

  await check('top_pause_unpause', async () => {
    const w = await worker();
    const top = await w.c.top();
    truthy(Array.isArray(top.Titles) && top.Titles.includes('PID') && top.Titles.includes('CMD'), `Titles ${show(top.Titles)}`);
    const cmdIdx = top.Titles.indexOf('CMD');
    truthy(top.Processes.some((p) => p[cmdIdx] === 'sleep 300'), `Processes ${show(top.Processes)}`);
    await w.c.pause();
    try {
      const i = await w.c.inspect();
      eq([i.State.Status, i.State.Paused, i.State.Running], ['paused', true, true], 'paused State');
      const list = await docker.listContainers({ filters: { label: [LABEL_FILTER], status: ['paused'] } });
      eq(list.map((c) => c.Id), [w.c.id], 'status=paused filter');
      truthy(/\(Paused\)$/.test(list[0].Status), `Status ${show(list[0].Status)}`);
      await expectStatus(w.c.exec({ Cmd: ['true'] }), 409, 'exec create on a paused container');
    } finally {
      await w.c.unpause();
    }
    const i = await w.c.inspect();
    eq([i.State.Status, i.State.Paused, i.State.Running], ['running', false, true], 'unpaused State');
  });

  await check('start_twice_is_304', async () => {
    const w = await worker();
    await expectStatus(w.c.start(), 304, 'start of a running container');
  });

  await check('remove_running_needs_force', async () => {
    const { c } = await createContainer('rm', { Cmd: ['sleep', '300'] });
    await c.start();
    const err = await expectStatus(c.remove(), 409, 'remove of a running container');
    truthy(/stop the container before .*force remove/i.test(err.message), `message ${show(err.message)}`);
    await c.remove({ force: true });
    await expectStatus(c.inspect(), 404, 'inspect after remove');
    await expectStatus(c.remove({ force: true }), 404, 'second remove');
    created.containers.delete(c.id);
  });

  await check('kill_and_stop_exit_codes', async () => {
    const { c: k } = await createContainer('kill', { Cmd: ['sleep', '300'] });
    await k.start();
    await k.kill({ signal: 'SIGKILL' });
    eq((await k.wait()).StatusCode, 137, 'wait after SIGKILL');
    const ki = await k.inspect();
    eq([ki.State.Status, ki.State.ExitCode], ['exited', 137], 'killed State');
    await expectStatus(k.kill(), 409, 'kill of an exited container');
    // sleep as pid 1 ignores SIGTERM, so stop must fall back to SIGKILL after t seconds.
    const { c: s } = await createContainer('stop', { Cmd: ['sleep', '300'] });
    await s.start();
    const t0 = Date.now();
    await s.stop({ t: 1 });
    const took = Date.now() - t0;
    truthy(took >= 900, `stop returned after ${took} ms, before its 1 s grace period`);
    const si = await s.inspect();
    eq([si.State.Status, si.State.ExitCode], ['exited', 137], 'stopped State');
    await expectStatus(s.stop(), 304, 'stop of a stopped container');
  });

  await check('wait_for_running_container', async () => {
    const { c } = await createContainer('wait', { Cmd: ['sh', '-c', 'sleep 0.5; exit 7'] });
    await c.start();
    const w = await c.wait();
    eq(w.StatusCode, 7, 'StatusCode');
    const r = await c.wait({ condition: 'not-running' });
    eq(r.StatusCode, 7, 'StatusCode with condition=not-running');
  });

  await check('rename', async () => {
    const { c, name } = await createContainer('ren', { Cmd: ['true'] });
    await c.rename({ name: `${name}-new` });
    eq((await c.inspect()).Name, `/${name}-new`, 'Name after rename');
    await expectStatus(docker.getContainer(name).inspect(), 404, 'inspect by the old name');
  });

  await check('events_stream_and_replay', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    const name = `${PREFIX}-events`;
    const filters = { type: ['container'], container: [name], label: [LABEL_FILTER] };
    const stream = await docker.getEvents({ filters });
    let live;
    try {
      const seen = readJsonLines(stream, (objs) => objs.some((e) => e.Action === 'destroy'), 10000, 'event stream');
      const { c } = await createContainer('events', { Cmd: ['sh', '-c', 'exit 4'] });
      await c.start();
      eq((await c.wait()).StatusCode, 4, 'StatusCode');
      await c.remove();
      created.containers.delete(c.id);
      live = await seen;
    } finally {
      stream.destroy();
    }
    eq(live.map((e) => e.Action), ['create', 'start', 'die', 'destroy'], 'actions');
    const id = live[0].Actor.ID;
    for (const e of live) {
      eq(e.Type, 'container', `${e.Action} Type`);
      eq(e.Actor.ID, id, `${e.Action} Actor.ID`);
      eq(e.Actor.Attributes.name, name, `${e.Action} name attribute`);
      eq(e.Actor.Attributes.image, IMAGE, `${e.Action} image attribute`);
      eq(e.Actor.Attributes[LABEL_KEY], RUN_ID, `${e.Action} label attribute`);
      truthy(Number.isInteger(e.time) && e.time >= since, `${e.Action} time ${e.time}`);
      truthy(Number.isInteger(e.timeNano) && Math.floor(e.timeNano / 1e9) === e.time, `${e.Action} timeNano ${e.timeNano} vs time ${e.time}`);
      eq(e.scope, 'local', `${e.Action} scope`);
    }
    eq(live[2].Actor.Attributes.exitCode, '4', 'die exitCode attribute');
    // A past window is replayed and the stream ends by itself at `until`; the pause keeps
    // `until` (millisecond precision) clear of the destroy event's nanosecond timestamp.
    await sleep(20);
    const until = ((Date.now() - 5) / 1000).toFixed(3);
    const past = await docker.getEvents({ since: String(since), until, filters });
    const replay = await readJsonLines(past, () => false, 5000, 'replayed events');
    eq(replay.map((e) => [e.Action, e.Actor.ID, e.timeNano]), live.map((e) => [e.Action, e.Actor.ID, e.timeNano]), 'replayed events');
  });

  await check('exec_detached_and_inspect_while_running', async () => {
    const w = await worker();
    const exec = await w.c.exec({ Cmd: ['sh', '-c', 'sleep 0.7; echo done > /tmp/detached'] });
    const res = await exec.start({ Detach: true });
    // A detached start answers at once with an empty body; dockerode hands back the response.
    if (res && typeof res.resume === 'function') res.resume();
    const running = await exec.inspect();
    eq([running.Running, running.ExitCode], [true, null], 'Running/ExitCode while it runs');
    truthy(running.Pid > 0, `Pid ${show(running.Pid)}`);
    const info = await execFinished(exec);
    eq(info.ExitCode, 0, 'ExitCode');
    eq((await execOutput(w.c, ['cat', '/tmp/detached'])).stdout, 'done\n', 'what it wrote');
    await expectStatus(exec.start({ Detach: true }), 409, 'a second start of a finished exec');
  });

  await check('attach_running_with_logs', async () => {
    const { c } = await createContainer('attachrun', { Cmd: ['sh', '-c', 'echo before; sleep 1; echo after; echo late-err >&2'] });
    await c.start();
    await logsShow(c, 'before');
    // logs=1 with stream=1 replays what was written so far, then follows until the exit.
    const stream = await c.attach({ stream: true, logs: true, stdout: true, stderr: true });
    const { stdout, stderr } = await withTimeout(collectDemux(stream), 10000, 'attach stream');
    eq([stdout, stderr], ['before\nafter\n', 'late-err\n'], 'stdout/stderr');
  });

  await check('wait_next_exit', async () => {
    const { c } = await createContainer('nextexit', { Cmd: ['sleep', '300'] });
    await c.start();
    const waited = c.wait({ condition: 'next-exit' });
    waited.catch(() => {});
    await sleep(200);
    await c.kill({ signal: 'SIGTERM' });
    // sleep as pid 1 ignores SIGTERM; a SIGKILL then ends it.
    await sleep(200);
    await c.kill();
    eq((await withTimeout(waited, 5000, 'wait condition=next-exit')).StatusCode, 137, 'StatusCode');
  });

  await check('archive_directory_and_errors', async () => {
    const w = await worker();
    await execOutput(w.c, ['sh', '-c', 'mkdir -p /tmp/adir/sub && echo one > /tmp/adir/one && ln -sf one /tmp/adir/link && echo two > /tmp/adir/sub/two']);
    const res = await w.c.getArchive({ path: '/tmp/adir' });
    const entries = [];
    await new Promise((resolve, reject) => {
      const ex = tar.extract();
      ex.on('entry', (h, s, next) => {
        const parts = [];
        s.on('data', (d) => parts.push(d));
        s.on('end', () => {
          entries.push([h.name.replace(/\/$/, ''), h.type, h.type === 'symlink' ? h.linkname : Buffer.concat(parts).toString()]);
          next();
        });
      });
      ex.on('finish', resolve);
      ex.on('error', reject);
      res.pipe(ex);
    });
    entries.sort((a, b) => (a[0] < b[0] ? -1 : 1));
    eq(entries, [['adir', 'directory', ''], ['adir/link', 'symlink', 'one'], ['adir/one', 'file', 'one\n'], ['adir/sub', 'directory', ''], ['adir/sub/two', 'file', 'two\n']], 'entries');
    const link = await w.c.infoArchive({ path: '/tmp/adir/link' });
    link.resume();
    const st = JSON.parse(Buffer.from(link.headers['x-docker-container-path-stat'], 'base64').toString());
    eq([st.name, st.linkTarget], ['link', '/tmp/adir/one'], 'symlink stat name/linkTarget');
    const pack = tar.pack();
    pack.entry({ name: 'x.txt' }, 'x');
    pack.finalize();
    const chunks = [];
    for await (const ch of pack) chunks.push(ch);
    await expectStatus(w.c.putArchive(Buffer.concat(chunks), { path: '/no/such/dir' }), 404, 'putArchive into a missing directory');
    // dockerd 20.10 answers 500 here, newer releases 400; the refusal and its words are held to.
    const onFile = await w.c.putArchive(Buffer.concat(chunks), { path: '/tmp/adir/one' }).then(() => null, (e) => e);
    truthy(onFile && [400, 500].includes(onFile.statusCode) && /extraction point is not a directory/.test(onFile.message), `putArchive onto a file: ${onFile ? oneLine(onFile) : 'succeeded'}`);
  });

  await check('builtin_networks', async () => {
    const nets = await docker.listNetworks({ filters: { type: ['builtin'] } });
    const byName = Object.fromEntries(nets.map((n) => [n.Name, n.Driver]));
    eq([byName.bridge, byName.host, byName.none], ['bridge', 'host', 'null'], 'bridge/host/none drivers');
    truthy(!nets.some((n) => n.Name.startsWith(PREFIX)), 'a network of this run is listed as builtin');
    const bridge = await docker.getNetwork('bridge').inspect();
    eq([bridge.Name, bridge.Driver, bridge.Scope, bridge.Internal], ['bridge', 'bridge', 'local', false], 'bridge Name/Driver/Scope/Internal');
    eq(bridge.Options['com.docker.network.bridge.default_bridge'], 'true', 'default_bridge option');
    truthy(bridge.IPAM.Config.length >= 1 && /^\d+\.\d+\.\d+\.\d+\/\d+$/.test(bridge.IPAM.Config[0].Subnet), `IPAM.Config ${show(bridge.IPAM.Config)}`);
    const w = await worker();
    truthy(bridge.Containers[w.c.id] && bridge.Containers[w.c.id].Name === w.name, `worker missing from bridge Containers: ${show(Object.keys(bridge.Containers))}`);
  });

  await check('running_inspect_details', async () => {
    const w = await worker();
    const i = await w.c.inspect();
    eq([i.State.Status, i.State.Running, i.State.ExitCode, i.State.FinishedAt], ['running', true, 0, '0001-01-01T00:00:00Z'], 'Status/Running/ExitCode/FinishedAt');
    truthy(i.State.Pid > 0, `Pid ${show(i.State.Pid)}`);
    eq(i.Config.Hostname, w.c.id.slice(0, 12), 'Config.Hostname');
    for (const k of ['HostnamePath', 'HostsPath', 'ResolvConfPath']) truthy(typeof i[k] === 'string' && i[k].startsWith('/'), `${k} ${show(i[k])}`);
    const ep = i.NetworkSettings.Networks.bridge;
    truthy(ep && /^\d+\.\d+\.\d+\.\d+$/.test(ep.IPAddress) && /^\d+\.\d+\.\d+\.\d+$/.test(ep.Gateway) && ep.IPPrefixLen > 0, `bridge endpoint ${show(ep)}`);
    truthy(/^[0-9a-f]{64}$/.test(ep.NetworkID) && /^[0-9a-f]{64}$/.test(ep.EndpointID), `NetworkID/EndpointID ${ep.NetworkID} ${ep.EndpointID}`);
    truthy(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(ep.MacAddress), `MacAddress ${show(ep.MacAddress)}`);
    truthy(typeof i.NetworkSettings.SandboxKey === 'string' && i.NetworkSettings.SandboxKey.length > 0, `SandboxKey ${show(i.NetworkSettings.SandboxKey)}`);
    const r = await execOutput(w.c, ['sh', '-c', 'hostname; grep -w "$(hostname)" /etc/hosts | cut -f1; cat /sys/class/net/eth0/address']);
    eq(r.stdout, `${w.c.id.slice(0, 12)}\n${ep.IPAddress}\n${ep.MacAddress}\n`, 'hostname, its /etc/hosts address and the MAC seen inside');
  });

  await check('create_config_round_trip', async () => {
    const host = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-sdk-bind-'));
    try {
      // mkdtemp makes the directory 0700; the container's user 1000 must get in.
      fs.chmodSync(host, 0o755);
      fs.writeFileSync(path.join(host, 'in.txt'), 'from the host\n', { mode: 0o644 });
      const script = 'echo "$0 $1 $GREETING $(pwd) $(id -u):$(id -g)"; cat /hostdir/in.txt; echo t > /scratch/t && echo tmpfs-ok; touch /rootfs-file 2>/dev/null || echo read-only-root';
      const { c } = await createContainer('config', {
        Entrypoint: ['sh', '-c', script],
        Cmd: ['arg1', 'arg2'],
        Env: ['GREETING=hello world'],
        WorkingDir: '/tmp',
        User: '1000:1000',
        StopSignal: 'SIGUSR1',
        StopTimeout: 3,
        HostConfig: {
          Binds: [`${host}:/hostdir:ro`],
          Tmpfs: { '/scratch': 'size=1m,mode=1777' },
          ReadonlyRootfs: true,
        },
      });
      const i = await c.inspect();
      eq(i.Config.Entrypoint, ['sh', '-c', script], 'Config.Entrypoint');
      eq(i.Config.Cmd, ['arg1', 'arg2'], 'Config.Cmd');
      eq([i.Path, i.Args], ['sh', ['-c', script, 'arg1', 'arg2']], 'Path/Args');
      truthy(i.Config.Env.includes('GREETING=hello world') && i.Config.Env.some((e) => e.startsWith('PATH=')), `Config.Env ${show(i.Config.Env)}`);
      eq([i.Config.WorkingDir, i.Config.User, i.Config.StopSignal, i.Config.StopTimeout], ['/tmp', '1000:1000', 'SIGUSR1', 3], 'WorkingDir/User/StopSignal/StopTimeout');
      eq([i.HostConfig.Binds, i.HostConfig.Tmpfs, i.HostConfig.ReadonlyRootfs], [[`${host}:/hostdir:ro`], { '/scratch': 'size=1m,mode=1777' }, true], 'Binds/Tmpfs/ReadonlyRootfs');
      const s = await c.attach({ stream: true, stdout: true, stderr: true });
      const got = withTimeout(collectDemux(s), 10000, 'output');
      await c.start();
      eq((await c.wait()).StatusCode, 0, 'StatusCode');
      eq((await got).stdout, 'arg1 arg2 hello world /tmp 1000:1000\nfrom the host\ntmpfs-ok\nread-only-root\n', 'stdout');
      const m = (await c.inspect()).Mounts;
      eq(m.map((x) => [x.Type, x.Source, x.Destination, x.RW]), [['bind', host, '/hostdir', false]], 'Mounts');
    } finally {
      fs.rmSync(host, { recursive: true, force: true });
    }
  });

  await check('stop_signal_reaches_a_trap', async () => {
    const { c } = await createContainer('trap', { Cmd: ['sh', '-c', "trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.1; done"] });
    await c.start();
    await logsShow(c, 'ready');
    await c.stop({ t: 5 });
    const i = await c.inspect();
    eq([i.State.Status, i.State.ExitCode], ['exited', 0], 'Status/ExitCode after the trap ran');
    const out = await demuxBuffer(await c.logs({ stdout: true }));
    eq(out.stdout, 'ready\ngot-term\n', 'logs');
  });

  await check('logs_since_and_follow_new_lines', async () => {
    const { c } = await createContainer('logs2', { Cmd: ['sh', '-c', 'echo early; sleep 1.2; echo late1; echo late2; sleep 0.3'] });
    await c.start();
    await logsShow(c, 'early');
    // tail=0 follows from now on only.
    const stream = await c.logs({ follow: true, stdout: true, stderr: true, tail: 0 });
    const fresh = await withTimeout(collectDemux(stream), 10000, 'followed logs');
    eq(fresh.stdout, 'late1\nlate2\n', 'tail=0 and follow');
    const stamped = (await demuxBuffer(await c.logs({ stdout: true, timestamps: true }))).stdout.split('\n').filter(Boolean);
    eq(stamped.length, 3, 'timestamped lines');
    // since is inclusive and takes seconds with a fraction; the second line's stamp keeps
    // that line and what follows.
    const t = stamped[1].split(' ')[0];
    const sec = Math.floor(Date.parse(t) / 1000);
    const frac = (t.split('.')[1] || '0').replace('Z', '').padEnd(9, '0');
    const since = (await demuxBuffer(await c.logs({ stdout: true, since: `${sec}.${frac}` }))).stdout;
    eq(since, 'late1\nlate2\n', 'since the second line');
    const until = (await demuxBuffer(await c.logs({ stdout: true, until: `${sec}.${frac}` }))).stdout;
    truthy(until.startsWith('early\n') && !until.includes('late2'), `until the second line: ${show(until)}`);
  });

  await check('list_filters_ancestor_network_id', async () => {
    const w = await worker();
    const byAncestor = await docker.listContainers({ filters: { label: [LABEL_FILTER], ancestor: [IMAGE] } });
    truthy(byAncestor.some((x) => x.Id === w.c.id), 'ancestor filter misses the worker');
    const byNetwork = await docker.listContainers({ filters: { label: [LABEL_FILTER], network: ['bridge'] } });
    truthy(byNetwork.some((x) => x.Id === w.c.id), 'network=bridge filter misses the worker');
    const none = await docker.listContainers({ all: true, filters: { label: [LABEL_FILTER], network: ['none'] } });
    eq(none, [], 'network=none filter');
    const byId = await docker.listContainers({ filters: { id: [w.c.id.slice(0, 12)] } });
    eq(byId.map((x) => x.Id), [w.c.id], 'id prefix filter');
  });

  await check('system_df', async () => {
    const df = await docker.df();
    truthy(Number.isInteger(df.LayersSize), `LayersSize ${show(df.LayersSize)}`);
    truthy(Array.isArray(df.Images) && Array.isArray(df.Containers) && Array.isArray(df.Volumes), `df keys ${show(Object.keys(df))}`);
    const w = await worker();
    const mine = df.Containers.find((x) => x.Id === w.c.id);
    truthy(mine && mine.State === 'running' && mine.Names[0] === `/${w.name}`, `worker in df ${show(mine)}`);
    if (imageInfo) {
      const img = df.Images.find((x) => x.Id === imageInfo.Id);
      truthy(img && img.Containers >= 1, `image in df ${show(img)}`);
    }
  });

  await check('archive_put_get_round_trip', async () => {
    const w = await worker();
    const content = `hello from ${RUN_ID}\n`;
    const mtime = new Date(1700000000 * 1000);
    const pack = tar.pack();
    pack.entry({ name: 'sdk-dir/', type: 'directory', mode: 0o750, mtime });
    pack.entry({ name: 'sdk-dir/hello.txt', mode: 0o640, uid: 1234, gid: 2345, mtime }, content);
    pack.finalize();
    const chunks = [];
    for await (const ch of pack) chunks.push(ch);
    const body = Buffer.concat(chunks);
    await w.c.putArchive(body, { path: '/tmp' });

    const st = await execOutput(w.c, ['stat', '-c', '%a %u %g %s %Y', '/tmp/sdk-dir/hello.txt', '/tmp/sdk-dir']);
    eq(st.stdout, `640 1234 2345 ${Buffer.byteLength(content)} 1700000000\n750 0 0 ${st.stdout.split('\n')[1].split(' ')[3]} 1700000000\n`, 'stat of the extracted files');

    const res = await w.c.getArchive({ path: '/tmp/sdk-dir/hello.txt' });
    const statHeader = res.headers['x-docker-container-path-stat'];
    truthy(statHeader, `no X-Docker-Container-Path-Stat header: ${show(res.headers)}`);
    const stat = JSON.parse(Buffer.from(statHeader, 'base64').toString());
    eq([stat.name, stat.size, stat.mode, stat.linkTarget], ['hello.txt', Buffer.byteLength(content), 0o640, ''], 'path stat');
    truthy(Date.parse(stat.mtime) === mtime.getTime(), `mtime ${show(stat.mtime)}`);
    const entries = await new Promise((resolve, reject) => {
      const got = [];
      const ex = tar.extract();
      ex.on('entry', (h, s, next) => {
        const parts = [];
        s.on('data', (d) => parts.push(d));
        s.on('end', () => {
          got.push({ name: h.name, type: h.type, mode: h.mode & 0o7777, uid: h.uid, gid: h.gid, data: Buffer.concat(parts).toString() });
          next();
        });
      });
      ex.on('finish', () => resolve(got));
      ex.on('error', reject);
      res.on('error', reject);
      res.pipe(ex);
    });
    eq(entries, [{ name: 'hello.txt', type: 'file', mode: 0o640, uid: 1234, gid: 2345, data: content }], 'archive entries');

    const dirRes = await w.c.infoArchive({ path: '/tmp/sdk-dir' });
    const dirStat = JSON.parse(Buffer.from(dirRes.headers['x-docker-container-path-stat'], 'base64').toString());
    eq([dirStat.name, dirStat.mode], ['sdk-dir', 2 ** 31 + 0o750], 'directory path stat (ModeDir|0750)');
    dirRes.resume();

    await expectStatus(w.c.getArchive({ path: '/tmp/no-such-path' }), 404, 'getArchive of a missing path');
  });

  let volWindow = null;
  await check('volume_lifecycle', async () => {
    const name = `${PREFIX}-vol`;
    const since = (Date.now() / 1000 - 1).toFixed(3);
    guard();
    const vol = await docker.createVolume({ Name: name, Labels: { ...LABELS, extra: 'x' } });
    created.volumes.add(name);
    eq(vol.name, name, 'Volume object name');
    const v = await vol.inspect();
    eq([v.Name, v.Driver, v.Scope], [name, 'local', 'local'], 'Name/Driver/Scope');
    eq(v.Labels, { ...LABELS, extra: 'x' }, 'Labels');
    truthy(typeof v.Mountpoint === 'string' && v.Mountpoint.startsWith('/'), `Mountpoint ${show(v.Mountpoint)}`);
    truthy(isRfc3339(v.CreatedAt), `CreatedAt ${show(v.CreatedAt)}`);
    const list = await docker.listVolumes({ filters: { label: [LABEL_FILTER] } });
    eq(list.Volumes.map((x) => x.Name), [name], 'label filter');
    truthy(Array.isArray(list.Warnings) || list.Warnings === null, `Warnings ${show(list.Warnings)}`);
    const byName = await docker.listVolumes({ filters: { name: [name] } });
    eq(byName.Volumes.map((x) => x.Name), [name], 'name filter');

    const { c: writer } = await createContainer('volw', { Cmd: ['sh', '-c', 'echo persisted > /data/f'], HostConfig: { Binds: [`${name}:/data`] } });
    await writer.start();
    eq((await writer.wait()).StatusCode, 0, 'writer exit');
    const wi = await writer.inspect();
    eq(wi.Mounts.map((m) => [m.Type, m.Name, m.Destination, m.Driver, m.RW]), [['volume', name, '/data', 'local', true]], 'Mounts');
    const { c: reader } = await createContainer('volr', { Cmd: ['cat', '/data/f'], HostConfig: { Binds: [`${name}:/data:ro`] } });
    const stream = await reader.attach({ stream: true, stdout: true, stderr: true });
    const got = withTimeout(collectDemux(stream), 10000, 'reader output');
    await reader.start();
    eq((await reader.wait()).StatusCode, 0, 'reader exit');
    eq((await got).stdout, 'persisted\n', 'data read back through the volume');

    const err = await expectStatus(vol.remove(), 409, 'remove of a volume in use');
    truthy(/in use/i.test(err.message), `message ${show(err.message)}`);
    await writer.remove();
    await reader.remove();
    created.containers.delete(writer.id);
    created.containers.delete(reader.id);
    await vol.remove();
    created.volumes.delete(name);
    await expectStatus(vol.inspect(), 404, 'inspect after remove');
    volWindow = { since, name, writer: writer.id, reader: reader.id };
  });

  await check('volume_events', async () => {
    truthy(volWindow, 'volume_lifecycle did not finish');
    const evs = await pastEvents(volWindow.since, { type: ['volume'], volume: [volWindow.name] });
    for (const e of evs) eq([e.Type, e.Actor.ID], ['volume', volWindow.name], `${e.Action} Type/Actor.ID`);
    // dockerd 20.10 repeats "create" each time a container names the existing volume, which
    // newer releases do not; only the first one is held to.
    const actions = evs.map((e) => e.Action).filter((a, i, all) => a !== 'create' || all.indexOf('create') === i);
    eq([actions[0], actions[actions.length - 1]], ['create', 'destroy'], 'first and last actions');
    for (const [who, id, rw] of [['writer', volWindow.writer, 'true'], ['reader', volWindow.reader, 'false']]) {
      const mine = evs.filter((e) => e.Actor.Attributes.container === id);
      eq(mine.map((e) => e.Action), ['mount', 'unmount'], `${who}'s volume events`);
      const a = mine[0].Actor.Attributes;
      eq([a.destination, a.driver, a['read/write']], ['/data', 'local', rw], `${who}'s mount attributes`);
    }
    eq(evs.filter((e) => !['create', 'mount', 'unmount', 'destroy'].includes(e.Action)).map((e) => e.Action), [], 'other actions');
  });

  let netWindow = null;
  await check('network_lifecycle', async () => {
    const name = `${PREFIX}-net`;
    const since = (Date.now() / 1000 - 1).toFixed(3);
    const { net, octet } = await createSubnetNetwork(name, true);
    const subnet = `172.30.${octet}.0/24`;
    truthy(/^[0-9a-f]{64}$/.test(net.id), `Id ${show(net.id)}`);
    const n = await net.inspect();
    eq([n.Name, n.Id, n.Driver, n.Scope, n.Internal, n.Attachable, n.EnableIPv6], [name, net.id, 'bridge', 'local', true, false, false], 'Name/Id/Driver/Scope/Internal/Attachable/EnableIPv6');
    eq(n.IPAM.Config, [{ Subnet: subnet, Gateway: `172.30.${octet}.1` }], 'IPAM.Config');
    eq(n.Labels, LABELS, 'Labels');
    eq(n.Containers, {}, 'Containers');
    const byLabel = await docker.listNetworks({ filters: { label: [LABEL_FILTER] } });
    eq(byLabel.map((x) => x.Id), [net.id], 'label filter');
    const byName = await docker.listNetworks({ filters: { name: [name] } });
    eq(byName.map((x) => x.Name), [name], 'name filter');

    const w = await worker();
    const ip = `172.30.${octet}.10`;
    await net.connect({ Container: w.c.id, EndpointConfig: { IPAMConfig: { IPv4Address: ip }, Aliases: ['sdk-alias'] } });
    const ci = await w.c.inspect();
    const ep = ci.NetworkSettings.Networks[name];
    truthy(ep, `container not on ${name}: ${show(Object.keys(ci.NetworkSettings.Networks))}`);
    eq([ep.NetworkID, ep.IPAddress, ep.IPPrefixLen, ep.Gateway], [net.id, ip, 24, `172.30.${octet}.1`], 'endpoint NetworkID/IPAddress/IPPrefixLen/Gateway');
    truthy((ep.Aliases || []).includes('sdk-alias'), `Aliases ${show(ep.Aliases)}`);
    truthy(/^02:42:/.test(ep.MacAddress) || /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(ep.MacAddress), `MacAddress ${show(ep.MacAddress)}`);
    const addr = await execOutput(w.c, ['ip', '-4', '-o', 'addr', 'show']);
    truthy(addr.stdout.includes(`${ip}/24`), `ip addr in the container: ${show(addr.stdout)}`);
    const n2 = await net.inspect();
    truthy(n2.Containers[w.c.id], `network Containers ${show(n2.Containers)}`);
    eq([n2.Containers[w.c.id].Name, n2.Containers[w.c.id].IPv4Address], [w.name, `${ip}/24`], 'network Containers entry');

    const err = await expectStatus(net.remove(), 403, 'remove of a network with an endpoint');
    truthy(/active endpoints/i.test(err.message), `message ${show(err.message)}`);
    await net.disconnect({ Container: w.c.id });
    const ci2 = await w.c.inspect();
    truthy(!ci2.NetworkSettings.Networks[name], `still on ${name} after disconnect`);
    eq((await net.inspect()).Containers, {}, 'Containers after disconnect');
    // The status differs across dockerd releases (500 in 20.10); the refusal itself does not.
    const again = await net.disconnect({ Container: w.c.id }).then(() => null, (e) => e);
    truthy(again && /is not connected to (the )?network/i.test(again.message), `second disconnect: ${again ? oneLine(again) : 'succeeded'}`);
    await net.remove();
    created.networks.delete(net.id);
    await expectStatus(net.inspect(), 404, 'inspect after remove');
    netWindow = { since, name, id: net.id, container: w.c.id };
  });

  await check('network_events', async () => {
    truthy(netWindow, 'network_lifecycle did not finish');
    const all = await pastEvents(netWindow.since, { type: ['network'], network: [netWindow.name] });
    // dockerd 20.10 logs one disconnect twice; a single one is held to.
    const evs = all.filter((e, i) => !(i > 0 && e.Action === 'disconnect' && all[i - 1].Action === 'disconnect'));
    eq(evs.map((e) => e.Action), ['create', 'connect', 'disconnect', 'destroy'], 'actions');
    for (const e of evs) {
      eq([e.Type, e.Actor.ID, e.Actor.Attributes.name, e.Actor.Attributes.type], ['network', netWindow.id, netWindow.name, 'bridge'], `${e.Action} Type/Actor.ID/name/type`);
    }
    eq([evs[1].Actor.Attributes.container, evs[2].Actor.Attributes.container], [netWindow.container, netWindow.container], 'connect/disconnect container attribute');
  });

  await check('docker_run_helper_tty', async () => {
    // docker.run creates with Tty on, attaches, starts and waits, as dockerode users call it.
    const out = new PassThrough();
    const chunks = [];
    out.on('data', (d) => chunks.push(Buffer.from(d)));
    const ended = new Promise((r) => out.on('end', r));
    const name = `${PREFIX}-run`;
    guard();
    const [data, c] = await docker.run(IMAGE, ['sh', '-c', 'echo hi; echo there >&2; exit 2'], out, { name, Labels: { ...LABELS } });
    created.containers.add(c.id);
    eq(data.StatusCode, 2, 'StatusCode');
    await withTimeout(ended, 5000, 'run output');
    eq(Buffer.concat(chunks).toString(), 'hi\r\nthere\r\n', 'tty output');
    const logs = await c.logs({ stdout: true, stderr: true });
    eq(Buffer.isBuffer(logs) ? logs.toString() : logs, 'hi\r\nthere\r\n', 'tty logs come unmultiplexed');
    const i = await c.inspect();
    eq([i.Config.Tty, i.Config.AttachStdout, i.Config.AttachStderr, i.Config.OpenStdin], [true, true, true, false], 'Tty/AttachStdout/AttachStderr/OpenStdin');
  });

  await check('attach_stdin_hijack', async () => {
    const { c } = await createContainer('stdin', {
      Cmd: ['sh', '-c', 'cat; echo stdin-closed >&2'],
      OpenStdin: true,
      StdinOnce: true,
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
    });
    const sock = await c.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true });
    const output = withTimeout(collectDemux(sock), 10000, 'attach stream');
    await c.start();
    sock.write('hello stdin\n');
    // Half-closing the hijacked connection closes the container's stdin (StdinOnce).
    sock.end();
    const w = await c.wait();
    const { stdout, stderr } = await output;
    eq([stdout, stderr], ['hello stdin\n', 'stdin-closed\n'], 'stdout/stderr');
    eq(w.StatusCode, 0, 'StatusCode');
  });

  await check('exec_stdin_hijack', async () => {
    const w = await worker();
    const exec = await w.c.exec({ Cmd: ['sh', '-c', 'tr a-z A-Z; echo eof >&2'], AttachStdin: true, AttachStdout: true, AttachStderr: true });
    const sock = await exec.start({ hijack: true, stdin: true });
    const output = withTimeout(collectDemux(sock), 10000, 'exec stream');
    sock.write('shout\n');
    sock.end();
    const { stdout, stderr } = await output;
    eq([stdout, stderr], ['SHOUT\n', 'eof\n'], 'stdout/stderr');
    eq((await execFinished(exec)).ExitCode, 0, 'ExitCode');
  });

  await check('exec_tty', async () => {
    const w = await worker();
    const exec = await w.c.exec({ Cmd: ['sh', '-c', 'echo tty-exec; tty'], Tty: true, AttachStdout: true, AttachStderr: true });
    const sock = await exec.start({ hijack: true, stdin: false, Tty: true });
    const { stdout } = await withTimeout(collectDemux(sock), 10000, 'exec stream');
    truthy(/^tty-exec\r\n\/dev\/pts\/\d+\r\n$/.test(stdout), `raw tty output ${show(stdout)}`);
    const info = await execFinished(exec);
    eq([info.ExitCode, info.ProcessConfig.tty], [0, true], 'ExitCode/ProcessConfig.tty');
  });

  await check('tty_resize', async () => {
    const { c } = await createContainer('tty', { Cmd: ['sleep', '300'], Tty: true, OpenStdin: true });
    await c.start();
    await c.resize({ h: 33, w: 101 });
    const r = await execOutput(c, ['stty', '-F', '/proc/1/fd/0', 'size']);
    eq(r.stdout, '33 101\n', 'pid 1 terminal size');
    await c.remove({ force: true });
    created.containers.delete(c.id);
  });

  await check('healthcheck_becomes_healthy', async () => {
    const { c } = await createContainer('health', {
      Cmd: ['sleep', '300'],
      Healthcheck: { Test: ['CMD-SHELL', 'echo probe'], Interval: 100e6, Timeout: 2e9, Retries: 1 },
    });
    await c.start();
    const deadline = Date.now() + 8000;
    let h;
    for (;;) {
      h = (await c.inspect()).State.Health;
      if (h && h.Status === 'healthy') break;
      if (Date.now() > deadline) fail(`State.Health ${show(h)} after 8 s`);
      await sleep(100);
    }
    eq(h.FailingStreak, 0, 'FailingStreak');
    truthy(h.Log.length >= 1, 'no probe in Health.Log');
    const probe = h.Log[h.Log.length - 1];
    eq([probe.ExitCode, probe.Output], [0, 'probe\n'], 'last probe ExitCode/Output');
    truthy(isRfc3339(probe.Start) && isRfc3339(probe.End), `probe Start/End ${probe.Start} ${probe.End}`);
    const list = await docker.listContainers({ filters: { label: [LABEL_FILTER], health: ['healthy'] } });
    eq(list.map((x) => x.Id), [c.id], 'health=healthy filter');
    truthy(/\(healthy\)$/.test(list[0].Status), `Status ${show(list[0].Status)}`);
    await c.remove({ force: true });
    created.containers.delete(c.id);
  });

  await check('auto_remove_and_wait_removed', async () => {
    const { c } = await createContainer('autorm', { Cmd: ['sh', '-c', 'sleep 0.5; exit 6'], HostConfig: { AutoRemove: true } });
    const waited = c.wait({ condition: 'removed' });
    waited.catch(() => {});
    await c.start();
    const w = await withTimeout(waited, 10000, 'wait condition=removed');
    eq(w.StatusCode, 6, 'StatusCode');
    await expectStatus(c.inspect(), 404, 'inspect after auto-remove');
    created.containers.delete(c.id);
  });

  await check('restart_and_update', async () => {
    const { c } = await createContainer('restart', { Cmd: ['sleep', '300'] });
    await c.start();
    const before = await c.inspect();
    await c.restart({ t: 0 });
    const after = await c.inspect();
    eq([after.State.Status, after.State.Running, after.RestartCount], ['running', true, 0], 'Status/Running/RestartCount after a manual restart');
    truthy(after.State.Pid > 0 && after.State.Pid !== before.State.Pid, `Pid ${before.State.Pid} -> ${after.State.Pid}`);
    truthy(Date.parse(after.State.StartedAt) > Date.parse(before.State.StartedAt), `StartedAt ${before.State.StartedAt} -> ${after.State.StartedAt}`);
    const res = await c.update({ Memory: 64 * 1024 * 1024, MemorySwap: 128 * 1024 * 1024, CpuShares: 512 });
    truthy(res && (res.Warnings === null || Array.isArray(res.Warnings)), `update answer ${show(res)}`);
    const u = await c.inspect();
    eq([u.HostConfig.Memory, u.HostConfig.MemorySwap, u.HostConfig.CpuShares], [67108864, 134217728, 512], 'Memory/MemorySwap/CpuShares');
    const limit = await execOutput(c, ['sh', '-c', 'cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes']);
    eq(limit.stdout, '67108864\n', 'memory limit seen in the container');
    await c.remove({ force: true });
    created.containers.delete(c.id);
  });

  await check('published_port_and_container_list', async () => {
    // A network of its own rather than the default bridge, whose subnet may be routed to
    // some other bridge on a shared test host; not internal, as an internal network gets
    // no published ports.
    const netName = `${PREFIX}-pubnet`;
    const { net } = await createSubnetNetwork(netName, false);
    const { c, name } = await createContainer('http', {
      Cmd: ['sh', '-c', 'mkdir -p /www && echo served > /www/index.html && exec httpd -f -p 8080 -h /www'],
      ExposedPorts: { '8080/tcp': {} },
      HostConfig: { NetworkMode: netName, PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] } },
    });
    await c.start();
    const i = await c.inspect();
    const binding = ((i.NetworkSettings.Ports || {})['8080/tcp'] || [])[0];
    truthy(binding && binding.HostIp === '127.0.0.1' && /^\d+$/.test(binding.HostPort) && binding.HostPort !== '0', `NetworkSettings.Ports ${show(i.NetworkSettings.Ports)}`);
    eq(i.HostConfig.PortBindings, { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] }, 'HostConfig.PortBindings as asked');
    const port = Number(binding.HostPort);
    const list = await docker.listContainers({ filters: { label: [LABEL_FILTER], name: [name] } });
    eq(list.length, 1, 'listed');
    eq(list[0].Ports, [{ IP: '127.0.0.1', PrivatePort: 8080, PublicPort: port, Type: 'tcp' }], 'Ports');
    eq(list[0].State, 'running', 'State');
    truthy(/^Up /.test(list[0].Status), `Status ${show(list[0].Status)}`);
    eq(i.HostConfig.NetworkMode, netName, 'HostConfig.NetworkMode');
    eq(Object.keys(i.NetworkSettings.Networks), [netName], 'NetworkSettings.Networks');
    const ip = i.NetworkSettings.Networks[netName].IPAddress;
    truthy(/^172\.30\.\d+\.\d+$/.test(ip), `IPAddress ${show(ip)}`);
    eq(list[0].NetworkSettings.Networks[netName].IPAddress, ip, 'listed IPAddress');
    eq(list[0].HostConfig.NetworkMode, netName, 'listed NetworkMode');
    // Only the loopback address is ever contacted.
    const deadline = Date.now() + 5000;
    let body;
    for (;;) {
      try {
        body = await httpGet(port);
        break;
      } catch (e) {
        if (Date.now() > deadline) fail(`GET 127.0.0.1:${port}: ${oneLine(e)}`);
        await sleep(100);
      }
    }
    eq(body, 'served\n', 'body through the published port');
    await c.remove({ force: true });
    created.containers.delete(c.id);
    await net.remove();
    created.networks.delete(net.id);
  });

  await check('changes_and_sizes', async () => {
    const w = await worker();
    await execOutput(w.c, ['sh', '-c', 'echo x > /sdk-new-file && rm -f /bin/true.nonexistent']);
    const changes = await w.c.changes();
    truthy(Array.isArray(changes) && changes.some((ch) => ch.Path === '/sdk-new-file' && ch.Kind === 1), `changes ${show(changes)}`);
    const i = await w.c.inspect({ size: true });
    truthy(Number.isInteger(i.SizeRw) && i.SizeRw > 0, `SizeRw ${show(i.SizeRw)}`);
    truthy(Number.isInteger(i.SizeRootFs) && i.SizeRootFs >= i.SizeRw, `SizeRootFs ${show(i.SizeRootFs)}`);
    const list = await docker.listContainers({ size: true, filters: { label: [LABEL_FILTER], name: [w.name] } });
    eq(list.map((x) => x.Id), [w.c.id], 'listed');
    truthy(Number.isInteger(list[0].SizeRw) && list[0].SizeRw > 0, `listed SizeRw ${show(list[0].SizeRw)}`);
    truthy(Number.isInteger(list[0].SizeRootFs) && list[0].SizeRootFs > 0, `listed SizeRootFs ${show(list[0].SizeRootFs)}`);
  });

  await check('commit', async () => {
    const w = await worker();
    const repo = `${PREFIX}-img`;
    const ref = `${repo}:commit`;
    created.images.add(ref);
    guard();
    const res = await w.c.commit({ repo, tag: 'commit', comment: 'sdk commit', changes: 'ENV SDK_COMMIT=1' });
    truthy(/^sha256:[0-9a-f]{64}$/.test(res.Id), `commit answer ${show(res)}`);
    const img = await docker.getImage(ref).inspect();
    eq(img.Id, res.Id, 'Id');
    eq(img.Comment, 'sdk commit', 'Comment');
    eq(img.Config.Labels, withImageLabels(LABELS), 'Config.Labels carried from the container');
    truthy(img.Config.Env.includes('SDK_COMMIT=1'), `Config.Env ${show(img.Config.Env)}`);
    eq(img.Config.Cmd, ['sleep', '300'], 'Config.Cmd');
    if (imageInfo) eq(img.RootFS.Layers.slice(0, imageInfo.RootFS.Layers.length), imageInfo.RootFS.Layers, 'base layers');
    eq(img.RootFS.Layers.length, (imageInfo ? imageInfo.RootFS.Layers.length : img.RootFS.Layers.length - 1) + 1, 'one new layer');
    const byLabel = await docker.listImages({ filters: { label: [LABEL_FILTER] } });
    eq(byLabel.map((x) => x.Id), [res.Id], 'label filter');
    const removed = await docker.getImage(ref).remove();
    truthy(removed.some((r) => r.Untagged === ref) && removed.some((r) => r.Deleted === res.Id), `remove answer ${show(removed)}`);
    created.images.delete(ref);
  });

  await check('build_image_from_context_dir', async () => {
    // FROM names an image the builder would pull if it were missing: build only on one that
    // was just inspected.
    truthy(imageInfo, `${IMAGE} could not be inspected, so no build`);
    guard();
    const ref = `${PREFIX}-img:build`;
    created.images.add(ref);
    const labelled = async () => (await docker.listImages({ all: true, filters: { label: [LABEL_FILTER] } })).map((i) => i.Id).sort();
    const before = await labelled();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-sdk-'));
    let output;
    try {
      fs.writeFileSync(path.join(dir, 'payload.txt'), 'from the context\n');
      fs.writeFileSync(
        path.join(dir, 'Dockerfile'),
        [`FROM ${IMAGE}`, `LABEL ${LABEL_KEY}=${RUN_ID}`, 'COPY payload.txt /payload.txt', 'RUN echo built-by-run >> /payload.txt', 'ENV SDK_BUILT=yes', 'CMD ["cat", "/payload.txt"]', ''].join('\n'),
      );
      // The { context, src } form is dockerode's own: it tars and gzips the directory.
      const stream = await docker.buildImage({ context: dir, src: ['Dockerfile', 'payload.txt'] }, { t: ref, forcerm: true });
      output = await withTimeout(
        new Promise((resolve, reject) => docker.modem.followProgress(stream, (err, out) => (err ? reject(err) : resolve(out)))),
        20000,
        'build',
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const errors = output.filter((m) => m.error || m.errorDetail);
    eq(errors, [], 'errors in the build output');
    const text = output.map((m) => m.stream || '').join('');
    const img = await docker.getImage(ref).inspect();
    truthy(text.includes(`Successfully tagged ${ref}`), `no "Successfully tagged" in ${show(text)}`);
    truthy(text.includes(`Successfully built ${img.Id.slice(7, 19)}`), `no "Successfully built ${img.Id.slice(7, 19)}" in ${show(text)}`);
    const aux = output.filter((m) => m.aux && m.aux.ID).map((m) => m.aux.ID);
    eq(aux, [img.Id], 'aux ID messages');
    eq(img.Config.Labels, withImageLabels(LABELS), 'Config.Labels');
    truthy(img.Config.Env.includes('SDK_BUILT=yes'), `Config.Env ${show(img.Config.Env)}`);
    eq(img.Config.Cmd, ['cat', '/payload.txt'], 'Config.Cmd');
    const { c } = await createContainer('built', { Image: ref });
    const s = await c.attach({ stream: true, stdout: true, stderr: true });
    const got = withTimeout(collectDemux(s), 10000, 'built output');
    await c.start();
    eq((await c.wait()).StatusCode, 0, 'StatusCode');
    eq((await got).stdout, 'from the context\nbuilt-by-run\n', 'file made by COPY and RUN');
    await c.remove();
    created.containers.delete(c.id);
    const removed = await docker.getImage(ref).remove();
    truthy(removed.some((r) => r.Untagged === ref) && removed.some((r) => r.Deleted === img.Id), `remove answer ${show(removed)}`);
    created.images.delete(ref);
    // Removing the tag also deletes the untagged step images under it (noprune is off).
    eq(await labelled(), before, 'labelled images (all=1) left after removing the built image');
  });

  await check('image_save_and_load', async () => {
    const saved = await docker.getImage(IMAGE).get();
    const files = {};
    const raw = [];
    saved.on('data', (d) => raw.push(d));
    await new Promise((resolve, reject) => {
      const ex = tar.extract();
      ex.on('entry', (h, s, next) => {
        const parts = [];
        s.on('data', (d) => parts.push(d));
        s.on('end', () => {
          if (h.name === 'manifest.json' || h.name === 'repositories') files[h.name] = Buffer.concat(parts).toString();
          next();
        });
      });
      ex.on('finish', resolve);
      ex.on('error', reject);
      saved.on('error', reject);
      saved.pipe(ex);
    });
    truthy(files['manifest.json'], 'no manifest.json in the saved tar');
    const manifest = JSON.parse(files['manifest.json']);
    eq(manifest.length, 1, 'manifest entries');
    eq(manifest[0].RepoTags, [fullRef(IMAGE)], 'RepoTags');
    if (imageInfo) {
      truthy(manifest[0].Config.includes(imageInfo.Id.slice(7)), `Config ${show(manifest[0].Config)} names not ${imageInfo.Id}`);
      eq(manifest[0].Layers.length, imageInfo.RootFS.Layers.length, 'layer count');
    }
    // Loading the same archive back changes nothing but says what it loaded.
    const loading = await docker.loadImage(Buffer.concat(raw));
    const out = await withTimeout(
      new Promise((resolve, reject) => docker.modem.followProgress(loading, (err, o) => (err ? reject(err) : resolve(o)))),
      10000,
      'load',
    );
    eq(out.filter((m) => m.error || m.errorDetail), [], 'errors in the load output');
    truthy(out.some((m) => m.stream === `Loaded image: ${fullRef(IMAGE)}\n`), `load output ${show(out)}`);
    if (imageInfo) eq((await docker.getImage(IMAGE).inspect()).Id, imageInfo.Id, 'Id after the load');
  });

  await check('error_bodies', async () => {
    const missing = `${PREFIX}-missing`;
    const err = await expectStatus(docker.getContainer(missing).inspect(), 404, 'inspect of a missing container');
    eq(err.json, { message: `No such container: ${missing}` }, 'error body');
    const w = await worker();
    eq((await docker.getContainer(w.c.id.slice(0, 12)).inspect()).Id, w.c.id, 'inspect by short id');
    eq((await docker.getContainer(w.name).inspect()).Id, w.c.id, 'inspect by name');
    const dup = await expectStatus(docker.createContainer({ name: w.name, Image: IMAGE, Labels: { ...LABELS } }), 409, 'create with a name in use');
    truthy(dup.json && /is already in use by container/.test(dup.json.message), `message ${show(dup.json)}`);
    await expectStatus(docker.createContainer({ Image: `berth-sdk-no-such-image:${RUN_ID}`, Labels: { ...LABELS } }), 404, 'create from a missing image');
  });

  await check('prune_by_label', async () => {
    const stopped = await docker.listContainers({ all: true, filters: { label: [LABEL_FILTER], status: ['exited', 'created'] } });
    truthy(stopped.length > 0, 'no stopped container of this run to prune');
    const res = await docker.pruneContainers({ filters: { label: [LABEL_FILTER] } });
    eq((res.ContainersDeleted || []).slice().sort(), stopped.map((c) => c.Id).sort(), 'ContainersDeleted');
    truthy(Number.isInteger(res.SpaceReclaimed), `SpaceReclaimed ${show(res.SpaceReclaimed)}`);
    res.ContainersDeleted.forEach((id) => created.containers.delete(id));
    const left = await docker.listContainers({ all: true, filters: { label: [LABEL_FILTER] } });
    truthy(left.every((c) => c.State === 'running'), `left after prune: ${show(left.map((c) => c.State))}`);

    const name = `${PREFIX}-prunenet`;
    guard();
    const net = await docker.createNetwork({ Name: name, Internal: true, Labels: { ...LABELS } });
    created.networks.add(net.id);
    const pr = await docker.pruneNetworks({ filters: { label: [LABEL_FILTER] } });
    eq(pr.NetworksDeleted, [name], 'NetworksDeleted');
    created.networks.delete(net.id);
  });

  await check('remove_force_running_worker', async () => {
    const w = await worker();
    await w.c.remove({ force: true, v: true });
    created.containers.delete(w.c.id);
    await expectStatus(w.c.inspect(), 404, 'inspect after remove');
  });
}

// Removes whatever this run left, first by recorded id, then by label in case an id was
// never seen (a create whose answer was lost), and reports anything still there.
async function cleanup() {
  const problems = [];
  const tryRm = async (what, fn) => {
    try {
      await fn();
    } catch (err) {
      if (err.statusCode !== 404) problems.push(`${what}: ${oneLine(err)}`);
    }
  };
  const labelled = async () => ({
    containers: (await docker.listContainers({ all: true, filters: { label: [LABEL_FILTER] } })).map((c) => c.Id),
    networks: (await docker.listNetworks({ filters: { label: [LABEL_FILTER] } })).map((n) => n.Id),
    volumes: ((await docker.listVolumes({ filters: { label: [LABEL_FILTER] } })).Volumes || []).map((v) => v.Name),
    images: (await docker.listImages({ all: true, filters: { label: [LABEL_FILTER] } })).map((i) => i.Id),
  });
  try {
    const found = await labelled();
    found.containers.forEach((id) => created.containers.add(id));
    found.networks.forEach((id) => created.networks.add(id));
    found.volumes.forEach((n) => created.volumes.add(n));
  } catch (err) {
    problems.push(`listing leftovers: ${oneLine(err)}`);
  }
  for (const id of created.containers) await tryRm(`container ${id}`, () => docker.getContainer(id).remove({ force: true, v: true }));
  for (const id of created.networks) await tryRm(`network ${id}`, () => docker.getNetwork(id).remove());
  for (const n of created.volumes) await tryRm(`volume ${n}`, () => docker.getVolume(n).remove());
  for (const ref of created.images) await tryRm(`image ${ref}`, () => docker.getImage(ref).remove());
  try {
    // Built and committed images (and build steps) carry the run's label; children go
    // before their parents, so a few passes may be needed.
    for (let pass = 0; pass < 6; pass++) {
      const imgs = await docker.listImages({ all: true, filters: { label: [LABEL_FILTER] } });
      if (!imgs.length) break;
      const last = pass === 5;
      for (const img of imgs) {
        try {
          await docker.getImage(img.Id).remove({ force: true });
        } catch (err) {
          if (last && err.statusCode !== 404) problems.push(`image ${img.Id}: ${oneLine(err)}`);
        }
      }
    }
  } catch (err) {
    problems.push(`listing leftover images: ${oneLine(err)}`);
  }
  try {
    const left = await labelled();
    const n = left.containers.length + left.networks.length + left.volumes.length + left.images.length;
    if (n) problems.push(`left behind: ${JSON.stringify(left)}`);
  } catch (err) {
    problems.push(`listing leftovers: ${oneLine(err)}`);
  }
  return problems;
}

async function finish(extraFailure) {
  if (finished) return;
  finished = true;
  if (extraFailure) {
    failed++;
    console.log(`FAIL ${extraFailure}`);
  }
  let problems;
  try {
    problems = await withTimeout(cleanup(), CLEANUP_TIMEOUT_MS, 'cleanup');
  } catch (err) {
    problems = [oneLine(err)];
  }
  if (problems.length) {
    failed++;
    console.log(`FAIL cleanup: ${problems.join('; ')}`);
  } else {
    passed++;
    console.log('ok cleanup');
  }
  console.log(`dockerode: ${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

// A check that failed early can leave a stream promise that rejects later; it has been
// reported already and must not take the process down before cleanup.
process.on('unhandledRejection', () => {});
process.on('uncaughtException', (err) => finish(`uncaught: ${oneLine(err)}`));

const globalTimer = setTimeout(() => finish(`global_timeout: still running after ${GLOBAL_TIMEOUT_MS} ms`), GLOBAL_TIMEOUT_MS);
// Last resort should cleanup itself hang on something the timeouts above do not cover.
setTimeout(() => {
  console.log('FAIL hard_timeout: cleanup did not finish');
  process.exit(1);
}, GLOBAL_TIMEOUT_MS + CLEANUP_TIMEOUT_MS + 2000).unref();

main()
  .catch((err) => {
    failed++;
    console.log(`FAIL main: ${oneLine(err)}`);
  })
  .then(() => {
    clearTimeout(globalTimer);
    return finish();
  });
