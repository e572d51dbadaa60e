// deploy/Dockerfile, built and run for real: the gateway in the image serves /readyz and a chat
// completion (backend: the host's fake Codex, mounted read-only), runs as a non-root user, stops
// with exit 0 on SIGTERM within its grace, leaves no zombie behind, and the image carries the
// pinned Codex CLI.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { fakeCodexBin, freePort, repoRoot, tempDir, waitFor } from '../lib/gateway.mjs';
import { MODEL, providerConfig } from '../e2e/codex.mjs';
import { MODEL_TEXT, startMockModel } from '../e2e/mock-model.mjs';
import { IMAGE, buildImage, docker, get, mustDocker, startDocker } from './docker.mjs';

const GRACE_MS = 3000;
const pinned = JSON.parse(fs.readFileSync(path.join(repoRoot, 'tests', 'package.json'), 'utf8')).dependencies['@openai/codex'];

let engine;
let built;
let fixtures;
const containers = [];

before(async () => {
  assert.ok(fs.existsSync(fakeCodexBin), `${fakeCodexBin} missing: build the release preset first`);
  engine = await startDocker();
  built = await buildImage();
  fixtures = tempDir('cg-image-');
  // The worker command leaves an orphan: a grandchild that outlives its parent and is
  // re-parented to the container's PID 1, which must reap it.
  fs.writeFileSync(path.join(fixtures.dir, 'codex'), '#!/bin/sh\n(sleep 0.3 &)\nexec /opt/fake/fake-codex "$@"\n', { mode: 0o755 });
  fs.chmodSync(fixtures.dir, 0o755);
});

after(async () => {
  for (const id of containers) await docker(['rm', '-f', '-v', id]);
  if (engine) await engine.stop();
  fixtures?.remove();
});

/**
 * Starts the image on the host network, by default with the fake Codex as its worker; returns
 * {id, url, port} once /readyz answers 200.
 */
async function runGateway(env = {}, extra = []) {
  const port = await freePort();
  // On the host's network the image's 0.0.0.0 would be every host address: loopback only here.
  const envArgs = Object.entries({ PORT: String(port), PROXY_HOST: '127.0.0.1', CODEX_BIN: '/opt/fake/codex', PROXY_API_KEY: 'sk-image',
    PROXY_SHUTDOWN_GRACE_MS: String(GRACE_MS), ...env }).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
  const r = await mustDocker(['run', '-d', '--network', 'host', ...envArgs,
    '-v', `${fakeCodexBin}:/opt/fake/fake-codex:ro`, '-v', `${path.join(fixtures.dir, 'codex')}:/opt/fake/codex:ro`,
    ...extra, IMAGE]);
  const id = r.stdout.trim();
  containers.push(id);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await get(`${url}/readyz`))?.status === 200, 30000, `${url}/readyz 200`).catch(async (e) => {
    throw new Error(`${e.message}\n${(await docker(['logs', id])).stderr.slice(-3000)}`);
  });
  return { id, url, port };
}

/** [{pid, comm, state}] of every process in the container, zombies included (read from its
 * /proc: `docker top` lists a cgroup's tasks, which a zombie has already left). */
async function procs(id) {
  const r = await mustDocker(['exec', id, 'sh', '-c', 'cat /proc/[0-9]*/stat 2>/dev/null; true']);
  return r.stdout.split('\n').map((l) => /^(\d+) \((.*)\) (\S)/.exec(l)).filter(Boolean).map((m) => ({ pid: Number(m[1]), comm: m[2], state: m[3] }));
}
const zombies = async (id) => (await procs(id)).filter((p) => p.state === 'Z');
const inspect = async (id, fmt) => (await mustDocker(['inspect', '-f', fmt, id])).stdout.trim();

describe('container image', { timeout: 45 * 60000 }, () => {
  it('builds; reports its size', (t) => {
    t.diagnostic(`image ${IMAGE}: ${(built.size / 1e6).toFixed(0)} MB, build ${built.seconds.toFixed(1)} s`);
    assert.ok(built.size > 0);
  });

  it('runs as a non-root user with the volumes, healthcheck and entrypoint of the Dockerfile', async () => {
    const user = (await mustDocker(['run', '--rm', '--entrypoint', 'id', IMAGE, '-u'])).stdout.trim();
    assert.equal(user, '10001');
    const cfg = JSON.parse((await mustDocker(['image', 'inspect', '-f', '{{json .Config}}', IMAGE])).stdout);
    assert.deepEqual(Object.keys(cfg.Volumes).sort(), ['/data/codex-home', '/data/state']);
    assert.deepEqual(cfg.Healthcheck.Test, ['CMD', 'codex-gateway', 'probe', '/readyz']);
    assert.deepEqual(cfg.Entrypoint, ['tini', '--', 'codex-gateway']);
    assert.deepEqual(cfg.Cmd, ['serve']);
    assert.equal(cfg.StopSignal, 'SIGTERM');
    assert.ok(cfg.Env.includes('CODEX_HOME=/data/codex-home'));
    assert.ok(cfg.Env.includes('PROXY_STATE_DIR=/data/state'));
  });

  it('carries the pinned Codex CLI and no Node.js', async () => {
    const v = await mustDocker(['run', '--rm', '--entrypoint', 'codex', IMAGE, '--version']);
    assert.equal(v.stdout.trim(), `codex-cli ${pinned}`);
    const node = await docker(['run', '--rm', '--entrypoint', 'sh', IMAGE, '-c', 'command -v node nodejs npm']);
    assert.equal(node.stdout.trim(), '');
    assert.notEqual(node.code, 0);
  });

  it('control: under a PID 1 that does not reap, the zombie check sees the zombie', async () => {
    const r = await mustDocker(['run', '-d', '--network', 'host', '--entrypoint', 'sh', IMAGE, '-c', '(sleep 0.1 &); exec sleep 30']);
    const id = r.stdout.trim();
    containers.push(id);
    await waitFor(async () => (await zombies(id)).length === 1, 10000, 'a zombie');
  });

  it("the image's HEALTHCHECK (codex-gateway probe /readyz) turns healthy", async () => {
    const gw = await runGateway({}, ['--health-interval', '1s']);
    await waitFor(async () => (await inspect(gw.id, '{{.State.Health.Status}}')) === 'healthy', 30000, 'healthy');
    await docker(['rm', '-f', '-v', gw.id]);
  });

  it('doctor in the image passes with its own Codex CLI and the CODEX_HOME volume', async () => {
    const r = await docker(['run', '--rm', '--network', 'host', '-e', `PORT=${await freePort()}`, '-e', 'PROXY_HOST=127.0.0.1', IMAGE, 'doctor'], { timeoutMs: 60000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^ok +codex_home +\/data\/codex-home \(exists, writable\)$/m);
    assert.match(r.stdout, new RegExp(`^ok +codex_version +codex-cli ${pinned.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(r.stdout, /^ok +worker /m);
  });

  it('serves /readyz and a chat completion, reaps orphans, and stops on SIGTERM with exit 0', async () => {
    const gw = await runGateway();
    const client = new OpenAI({ apiKey: 'sk-image', baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const r = await client.chat.completions.create({ model: 'codex-5', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(r.choices[0].message.content, 'Hello from fake-codex.');
    const wrong = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { Authorization: 'Bearer wrong', 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'codex-5', messages: [{ role: 'user', content: 'hi' }] }) });
    assert.equal(wrong.status, 401);

    // The worker's orphaned `sleep` ends 0.3 s after the worker started; PID 1 must reap it.
    await waitFor(async () => !(await procs(gw.id)).some((p) => p.comm === 'sleep' && p.state !== 'Z'), 10000, 'orphan exited');
    assert.deepEqual(await zombies(gw.id), [], 'zombie in the container');

    // SIGTERM drains: a stream in flight still ends with [DONE].
    const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { Authorization: 'Bearer sk-image', 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'codex-5', stream: true, messages: [{ role: 'user', content: 'fake:slow=100,10' }] }) });
    const reader = res.body.getReader();
    const first = await reader.read();
    assert.equal(first.done, false);
    // docker stop sends STOPSIGNAL and SIGKILLs (exit 137) once its timeout passes: a drained
    // stop within the grace is exit code 0.
    const stopping = docker(['stop', '-t', String(Math.ceil(GRACE_MS / 1000)), gw.id], { timeoutMs: 30000 });
    let text = Buffer.from(first.value).toString();
    for (let c = await reader.read(); !c.done; c = await reader.read()) text += Buffer.from(c.value).toString();
    assert.match(text, /s9 /);
    assert.match(text, /data: \[DONE\]\n\n$/);
    const stop = await stopping;
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(await inspect(gw.id, '{{.State.ExitCode}}'), '0', (await docker(['logs', gw.id])).stderr.slice(-3000));
    assert.equal(await inspect(gw.id, '{{.State.OOMKilled}}'), 'false');
  });

  it("the image's own Codex CLI is a working worker (read-only root, as compose.yml runs it): a chat answered by a mock model on 127.0.0.1", async () => {
    const mock = await startMockModel();
    const home = tempDir('cg-image-home-');
    try {
      fs.writeFileSync(path.join(home.dir, 'config.toml'), providerConfig(mock.url));
      // The image's user must own its CODEX_HOME, as it owns the named volume.
      fs.chownSync(home.dir, 10001, 10001);
      fs.chownSync(path.join(home.dir, 'config.toml'), 10001, 10001);
      const gw = await runGateway({ CODEX_BIN: 'codex', CODEX_MODEL: MODEL },
        ['--read-only', '--tmpfs', '/tmp', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges', '-v', `${home.dir}:/data/codex-home`]);
      const client = new OpenAI({ apiKey: 'sk-image', baseURL: `${gw.url}/v1`, maxRetries: 0, timeout: 60000 });
      const r = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(r.choices[0].message.content, MODEL_TEXT);
      assert.ok(mock.responsesRequests().length >= 1);
      const stop = await docker(['stop', '-t', '15', gw.id], { timeoutMs: 30000 });
      assert.equal(stop.code, 0, stop.stderr);
      assert.equal(await inspect(gw.id, '{{.State.ExitCode}}'), '0', (await docker(['logs', gw.id])).stderr.slice(-3000));
    } finally {
      await mock.close();
      home.remove();
    }
  });
});
