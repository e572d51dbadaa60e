// deploy/codex-gateway.service under a real systemd: PID 1 of a podman container (host
// network, 127.0.0.1 only) started by this test. The unit as shipped (hardening, Type=notify,
// User=, StateDirectory=) runs the release gateway and the real native Codex, which answers a
// chat completion from a mock model on 127.0.0.1: so every sandboxing option is one the gateway
// and Codex tolerate. `systemctl start` returning means READY=1 arrived; `systemctl stop` must
// end in a clean exit.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CODEX_NATIVE, MODEL, providerConfig } from '../e2e/codex.mjs';
import { MODEL_TEXT, startMockModel } from '../e2e/mock-model.mjs';
import { freePort, repoRoot, tempDir } from '../lib/gateway.mjs';
import { SLIM_OPTS, bookwormMirror } from './debian.mjs';

const releaseBin = path.join(repoRoot, 'build', 'codex-gateway');
const unitFile = path.join(repoRoot, 'deploy', 'codex-gateway.service');
// The image is cached in build/ (keyed by what goes into it): mmdebstrap takes minutes here.
const cacheDir = path.join(repoRoot, 'build', 'systemd-image');
const PACKAGES = 'systemd,systemd-sysv,dbus,libuv1,libjansson4,libsqlite3-0';
const USER_HOOK = 'chroot "$1" useradd --system --home-dir /var/lib/codex-gateway --shell /usr/sbin/nologin codex-gateway';
const imageTag = `localhost/cg-systemd:${crypto.createHash('sha256').update(`${PACKAGES}\n${USER_HOOK}`).digest('hex').slice(0, 12)}`;
const name = `cg-systemd-${process.pid}`;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function podmanEnv() {
  fs.mkdirSync(cacheDir, { recursive: true });
  const conf = path.join(cacheDir, 'containers.conf');
  // runc: crun refuses this machine's hybrid cgroups; limits at or below the host's own.
  fs.writeFileSync(conf, '[containers]\ndefault_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]\n[engine]\nruntime = "runc"\n');
  const storage = path.join(cacheDir, 'storage.conf');
  fs.writeFileSync(storage, `[storage]\ndriver = "overlay"\ngraphroot = "${cacheDir}/store"\nrunroot = "${cacheDir}/run"\n`);
  return { ...process.env, CONTAINERS_CONF: conf, CONTAINERS_STORAGE_CONF: storage };
}

const env = podmanEnv();

function run(cmd, args, timeoutMs = 60000) {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? (err.code ?? err.signal) : 0, stdout: stdout.toString(), stderr: stderr.toString() }));
  });
}

const inBox = (...args) => run('podman', ['exec', name, ...args]);

async function ensureImage() {
  if ((await run('podman', ['image', 'exists', imageTag])).code === 0) return;
  const tar = path.join(cacheDir, 'rootfs.tar');
  const r = await run('mmdebstrap', ['--quiet', ...SLIM_OPTS, `--include=${PACKAGES}`,
    `--customize-hook=${USER_HOOK}`, 'bookworm', tar, bookwormMirror()], 600000);
  assert.equal(r.code, 0, `mmdebstrap: ${r.stderr}`);
  const imp = await run('podman', ['import', '-q', tar, imageTag], 120000);
  fs.rmSync(tar, { force: true });
  assert.equal(imp.code, 0, imp.stderr);
}

async function until(what, check, timeoutMs) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

describe('the unit under systemd (podman)', { timeout: 900000 }, () => {
  const t = tempDir('cg-systemd-box-');
  let mock = null;
  let port = 0;
  let started = false;

  before(async () => {
    await ensureImage();
    mock = await startMockModel();
    port = await freePort();
    fs.writeFileSync(path.join(t.dir, 'env'), `PROXY_HOST=127.0.0.1\nPORT=${port}\nCODEX_BIN=/usr/local/bin/codex\nCODEX_MODEL=${MODEL}\n`);
    fs.writeFileSync(path.join(t.dir, 'config.toml'), providerConfig(mock.url));
    const r = await run('podman', ['run', '-d', '--name', name, '--network', 'host', '--systemd=always',
      '--cap-add', 'SYS_ADMIN',
      '-v', `${releaseBin}:/usr/local/bin/codex-gateway:ro`,
      '-v', `${CODEX_NATIVE}:/usr/local/bin/codex:ro`,
      '-v', `${unitFile}:/etc/systemd/system/codex-gateway.service:ro`,
      '-v', `${path.join(t.dir, 'env')}:/etc/codex-gateway.env:ro`,
      '-v', `${path.join(t.dir, 'config.toml')}:/var/lib/codex-gateway/codex-home/config.toml`,
      imageTag, '/sbin/init']);
    assert.equal(r.code, 0, r.stderr);
    started = true;
    await until('systemd in the container', async () => /^(running|degraded)/.test((await inBox('systemctl', 'is-system-running')).stdout), 60000);
  });

  after(async () => {
    if (started) await run('podman', ['rm', '-f', '-t', '0', name]);
    if (mock) await mock.close();
    t.remove();
  });

  it('starts: systemctl start returns once the port answers (READY=1)', async () => {
    const r = await inBox('systemctl', 'start', 'codex-gateway');
    const journal = await inBox('journalctl', '-u', 'codex-gateway', '--no-pager');
    assert.equal(r.code, 0, `${r.stderr}\n${journal.stdout.slice(-4000)}`);
    assert.equal((await inBox('systemctl', 'is-active', 'codex-gateway')).stdout.trim(), 'active');
    const livez = await fetch(`http://127.0.0.1:${port}/livez`);
    assert.equal(livez.status, 200);
    const main = (await inBox('systemctl', 'show', '-p', 'MainPID', '--value', 'codex-gateway')).stdout.trim();
    const owner = (await inBox('stat', '-c', '%U', `/proc/${main}`)).stdout.trim();
    assert.equal(owner, 'codex-gateway');
  });

  it('serves a chat completion through the real Codex inside the sandbox', async () => {
    await until('/readyz 200', async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, 60000)
      .catch(async (err) => {
        const j = await inBox('journalctl', '-u', 'codex-gateway', '--no-pager');
        throw new Error(`${err.message}\n${j.stdout.slice(-4000)}`);
      });
    const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }),
    });
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.choices[0].message.content, MODEL_TEXT);
    const health = await (await fetch(`http://127.0.0.1:${port}/healthz`)).json();
    assert.equal(health.codex_home.path, '/var/lib/codex-gateway/codex-home');
    assert.equal(health.codex_home.writable, true);
  });

  it('stops cleanly on systemctl stop (SIGTERM, exit 0)', async () => {
    const r = await inBox('systemctl', 'stop', 'codex-gateway');
    assert.equal(r.code, 0, r.stderr);
    const show = (await inBox('systemctl', 'show', '-p', 'Result,ExecMainStatus', 'codex-gateway')).stdout;
    assert.match(show, /Result=success/);
    assert.match(show, /ExecMainStatus=0/);
    const journal = (await inBox('journalctl', '-u', 'codex-gateway', '--no-pager')).stdout;
    assert.match(journal, /"event":"stopped"/);
  });
});
