// Shared setup of the deploy suites: a Docker engine started by hand (no bridge, no iptables:
// every container uses the host's network and the tests talk to 127.0.0.1 only), a Debian 12
// base image made with mmdebstrap (no registry is reachable), and the image built from
// deploy/Dockerfile. The engine's data root persists in a cache folder, so the base image and
// BuildKit's layer cache survive between runs and between the suite's files: an unchanged tree
// rebuilds in seconds. A lock lets only one file use the engine at a time.
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../lib/gateway.mjs';
import { SLIM_OPTS, bookwormMirror } from './debian.mjs';

// docker.io's 20.10 client: it has BuildKit built in (a newer client on PATH may lack buildx).
export const DOCKER = process.env.CG_DOCKER_CLIENT || '/usr/bin/docker';
export const COMPOSE = process.env.CG_DOCKER_COMPOSE || '/usr/bin/docker-compose';
export const BASE_IMAGE = 'localhost/debian:bookworm-slim';
export const IMAGE = 'localhost/codex-gateway:test';

const root = process.env.CG_DOCKER_ROOT || path.join(os.tmpdir(), 'codex-gateway-docker');
const sock = path.join(root, 'docker.sock');
const lockDir = path.join(root, 'lock');
export const dockerEnv = { ...process.env, DOCKER_HOST: `unix://${sock}` };

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Runs a command to completion (bounded by timeoutMs); resolves {code, stdout, stderr}. */
export function run(cmd, args, { timeoutMs = 60000, env = dockerEnv, cwd = repoRoot, input } = {}) {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { env, cwd, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 << 20 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }));
    if (input !== undefined) child.stdin.end(input);
  });
}

/** run() that throws with the command's output when it fails. */
export async function must(cmd, args, opts) {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${path.basename(cmd)} ${args.join(' ')} failed (${r.code}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  return r;
}

export const docker = (args, opts) => run(DOCKER, args, opts);
export const mustDocker = (args, opts) => must(DOCKER, args, opts);

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const readPid = (file) => {
  try {
    return Number(fs.readFileSync(file, 'utf8').trim()) || 0;
  } catch {
    return 0;
  }
};

async function stopPid(pid, timeoutMs) {
  if (!pid || !alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  const until = Date.now() + timeoutMs;
  while (alive(pid) && Date.now() < until) await sleep(100);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

/** Takes the engine's lock: waits while a live process holds it, breaks it when its holder died. */
async function lock(timeoutMs) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      fs.mkdirSync(lockDir);
      fs.writeFileSync(path.join(lockDir, 'pid'), String(process.pid));
      return;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
    }
    const holder = readPid(path.join(lockDir, 'pid'));
    if (holder && !alive(holder)) {
      // The holder died without stopping its engine: stop that engine before taking over.
      await stopPid(readPid(path.join(root, 'dockerd.pid')), 20000);
      fs.rmSync(lockDir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > until) throw new Error(`docker engine lock ${lockDir} held by pid ${holder}`);
    await sleep(500);
  }
}

/**
 * Starts dockerd on a socket in the cache folder and waits for it; the result's stop() stops it
 * and releases the lock. Containers left over by an earlier run that was killed are removed.
 */
export async function startDocker() {
  fs.mkdirSync(root, { recursive: true });
  await lock(30 * 60000);
  const log = fs.openSync(path.join(root, 'dockerd.log'), 'w');
  const proc = spawn('dockerd', [
    '-H', `unix://${sock}`, '--data-root', path.join(root, 'data'), '--exec-root', path.join(root, 'exec'),
    '--pidfile', path.join(root, 'dockerd.pid'), '--iptables=false', '--ip6tables=false', '--bridge=none',
  ], { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  const killOnExit = () => proc.kill('SIGKILL');
  process.on('exit', killOnExit);
  let stopped = null;
  const engine = {
    root,
    async stop() {
      stopped ||= (async () => {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 20000);
        await exited;
        clearTimeout(t);
        process.off('exit', killOnExit);
        fs.rmSync(lockDir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
  try {
    const until = Date.now() + 30000;
    while ((await docker(['info'], { timeoutMs: 5000 })).code !== 0) {
      if (proc.exitCode !== null || Date.now() > until) {
        throw new Error(`dockerd did not start:\n${fs.readFileSync(path.join(root, 'dockerd.log'), 'utf8').slice(-3000)}`);
      }
      await sleep(200);
    }
    const left = (await mustDocker(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
    if (left.length) await mustDocker(['rm', '-f', '-v', ...left]);
    await mustDocker(['volume', 'prune', '-f']);
  } catch (e) {
    await engine.stop();
    throw e;
  }
  return engine;
}

/** The CA bundle npm uses (a TLS-intercepting proxy's), or null. */
async function caFile() {
  const r = await run('npm', ['config', 'get', 'cafile'], { env: process.env });
  const file = r.stdout.trim();
  return r.code === 0 && file && file !== 'null' && file !== 'undefined' && fs.existsSync(file) ? file : null;
}

// Like debian:bookworm-slim: no documentation, manual pages or translations.
const BASE_OPTS = [...SLIM_OPTS, '--dpkgopt=path-exclude=/usr/share/locale/*',
  '--dpkgopt=path-include=/usr/share/locale/locale.alias'];
const BASE_KEY = createHash('sha256').update(BASE_OPTS.join('\n')).digest('hex').slice(0, 16);

/** Imports a minimal Debian 12 as BASE_IMAGE unless the engine has one made the same way. */
async function ensureBase() {
  const have = await docker(['image', 'inspect', '-f', '{{index .Config.Labels "cg.base"}}', BASE_IMAGE]);
  if (have.code === 0 && have.stdout.trim() === BASE_KEY) return;
  const mirror = bookwormMirror();
  const tar = path.join(root, 'base.tar');
  await must('mmdebstrap', ['--quiet', ...BASE_OPTS, 'bookworm', tar, mirror], { env: process.env, timeoutMs: 10 * 60000 });
  try {
    await mustDocker(['import', '--change', `LABEL cg.base=${BASE_KEY}`, tar, BASE_IMAGE], { timeoutMs: 5 * 60000 });
  } finally {
    fs.rmSync(tar, { force: true });
  }
}

/**
 * Builds IMAGE from deploy/Dockerfile the way the README says (BuildKit, the CA as a build
 * secret), on BASE_IMAGE. Returns {seconds, size} of this build.
 */
export async function buildImage() {
  await ensureBase();
  const ca = await caFile();
  const started = Date.now();
  await mustDocker(['build', '--network', 'host', ...(ca ? ['--secret', `id=ca,src=${ca}`] : []),
    '--build-arg', `BASE_IMAGE=${BASE_IMAGE}`, '-f', 'deploy/Dockerfile', '-t', IMAGE, '.'],
  { env: { ...dockerEnv, DOCKER_BUILDKIT: '1' }, timeoutMs: 30 * 60000 });
  const seconds = (Date.now() - started) / 1000;
  // Earlier builds' images and layers would pile up in the cache folder; the newest build's
  // layers (about 2.5 GB, most of it the npm stage) are used last and so are kept.
  await docker(['image', 'prune', '-f']);
  await docker(['builder', 'prune', '-f', '--keep-storage', '3gb']);
  const size = Number((await mustDocker(['image', 'inspect', '-f', '{{.Size}}', IMAGE])).stdout.trim());
  return { seconds, size };
}

/** GET url; {status, headers, body}, or null when nothing answers within 5 s. */
export async function get(url, headers = {}) {
  try {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(5000) });
    return { status: res.status, headers: res.headers, body: await res.text() };
  } catch {
    return null;
  }
}

