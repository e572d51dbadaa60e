// deploy/codex-gateway.service: `systemd-analyze verify` has nothing to say about it, its
// `systemd-analyze security` exposure stays low, and the gateway speaks the Type=notify
// protocol: READY=1 once its port accepts connections, STOPPING=1 on SIGTERM.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { after, describe, it } from 'node:test';
import { CODEX_NATIVE } from '../e2e/codex.mjs';
import { freePort, gatewayBin, repoRoot, startGateway, stopClean, tempDir } from '../lib/gateway.mjs';

const unitFile = path.join(repoRoot, 'deploy', 'codex-gateway.service');
const EXPOSURE_MAX = 2.0;

/** The unit with ExecStart pointing at the built binary (verify insists that it exists). */
function renderUnit(dir, edit = (s) => s) {
  const text = fs.readFileSync(unitFile, 'utf8').replaceAll('/usr/local/bin/codex-gateway', gatewayBin);
  const file = path.join(dir, 'codex-gateway.service');
  fs.writeFileSync(file, edit(text));
  return file;
}

function analyze(args) {
  return spawnSync('systemd-analyze', args, { encoding: 'utf8', timeout: 30000 });
}

describe('systemd unit', { timeout: 60000 }, () => {
  const t = tempDir('cg-unit-');
  after(() => t.remove());

  it('systemd-analyze verify prints nothing at all', () => {
    const r = analyze(['verify', renderUnit(t.dir)]);
    assert.equal(r.error, undefined);
    assert.equal(`${r.stdout}${r.stderr}`, '', 'verify output');
    assert.equal(r.status, 0);
  });

  it('a broken copy does make verify talk (so the check above can fail)', () => {
    const bad = tempDir('cg-unit-bad-');
    try {
      const r = analyze(['verify', renderUnit(bad.dir, (s) => s.replace('ProtectHome=true', 'ProtectHomee=true'))]);
      assert.match(`${r.stdout}${r.stderr}`, /Unknown key.*ProtectHomee/);
    } finally {
      bad.remove();
    }
  });

  it(`systemd-analyze security exposure is at most ${EXPOSURE_MAX}`, () => {
    const file = renderUnit(t.dir);
    const r = analyze(['security', '--offline=yes', file]);
    const m = /Overall exposure level for codex-gateway\.service: ([0-9.]+) (\S+)/.exec(r.stdout);
    assert.ok(m, r.stdout + r.stderr);
    console.log(`# systemd-analyze security exposure: ${m[1]} ${m[2]}`);
    assert.ok(Number(m[1]) <= EXPOSURE_MAX, `exposure ${m[1]} is above ${EXPOSURE_MAX}`);
    const strict = analyze(['security', '--offline=yes', `--threshold=${Math.ceil(EXPOSURE_MAX * 10)}`, file]);
    assert.equal(strict.status, 0, strict.stdout);
  });
});

// A datagram socket the test owns (node has no unix datagram sockets): python3 prints every
// message it gets; on READY=1 it tries the gateway's port at once and says whether it answered.
const LISTENER = `
import os, socket, sys
name, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind('\\0' + name[1:] if name.startswith('@') else name)
s.settimeout(60)
print('bound', flush=True)
while True:
    msg = s.recv(4096).decode()
    extra = ''
    if 'READY=1' in msg.split('\\n'):
        c = socket.socket()
        c.settimeout(5)
        extra = ' connect=ok' if c.connect_ex(('127.0.0.1', port)) == 0 else ' connect=refused'
        c.close()
    print(msg.replace('\\n', ' ') + extra, flush=True)
    if 'STOPPING=1' in msg:
        break
`;

function notifyListener(name, port) {
  const proc = spawn('python3', ['-c', LISTENER, name, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = [];
  const waiters = [];
  readline.createInterface({ input: proc.stdout }).on('line', (line) => {
    lines.push(line);
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  async function waitLine(pred, timeoutMs = 20000) {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const found = lines.find(pred);
      if (found) return found;
      if (Date.now() > until) throw new Error(`no notify message: got ${JSON.stringify(lines)}`);
      await new Promise((r) => {
        waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }
  return { lines, waitLine, exited, kill: () => proc.kill('SIGKILL') };
}

describe('Type=notify', { timeout: 60000 }, () => {
  for (const kind of ['path', 'abstract']) {
    it(`sends READY=1 once the port answers and STOPPING=1 on SIGTERM (${kind} socket)`, async () => {
      const t = tempDir('cg-notify-');
      const name = kind === 'path' ? path.join(t.dir, 'notify.sock') : `@cg-notify-${process.pid}-${Date.now()}`;
      const port = await freePort();
      const listener = notifyListener(name, port);
      let gw = null;
      try {
        await listener.waitLine((l) => l === 'bound');
        gw = await startGateway({ env: { NOTIFY_SOCKET: name, PORT: String(port) } });
        const ready = await listener.waitLine((l) => l.startsWith('READY=1'));
        assert.equal(ready, 'READY=1 connect=ok', 'the listener is bound when READY=1 arrives');
        assert.ok(gw.logs.some((l) => l.event === 'listening'));
        assert.ok(!listener.lines.some((l) => l.startsWith('STOPPING')), 'no STOPPING before the signal');
        await stopClean(assert, gw);
        gw = null;
        await listener.waitLine((l) => l === 'STOPPING=1');
        assert.deepEqual(listener.lines, ['bound', 'READY=1 connect=ok', 'STOPPING=1']);
      } finally {
        if (gw) await gw.stop();
        listener.kill();
        await listener.exited;
        t.remove();
      }
    });
  }

  it('without NOTIFY_SOCKET nothing is sent and the gateway serves as usual', async () => {
    const gw = await startGateway({ env: {} });
    await stopClean(assert, gw);
    assert.equal(gw.logs.find((l) => l.component === 'notify'), undefined);
  });
});

// MemoryDenyWriteExecute= is a seccomp filter only systemd installs; the kernel's own
// PR_SET_MDWE (Linux 6.3+, kept across execve) refuses the same memory, so it shows here
// whether Codex tolerates the unit's setting: node's JIT does not (the control), the native
// Codex must pass a real app-server handshake under it.
const UNDER_MDWE = `
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:
    print('no PR_SET_MDWE', file=sys.stderr)
    sys.exit(77)
os.execvp(sys.argv[1], sys.argv[1:])
`;

function underMdwe(argv, env) {
  return spawnSync('python3', ['-c', UNDER_MDWE, ...argv], { encoding: 'utf8', timeout: 60000, env: { PATH: process.env.PATH, ...env } });
}

describe('MemoryDenyWriteExecute=true', { timeout: 120000 }, () => {
  const probe = underMdwe(['true'], {});
  const skip = probe.status === 77 ? 'the kernel has no PR_SET_MDWE' : false;

  it('is refused by a JIT (node), so the check below can fail', { skip }, () => {
    const r = underMdwe(['node', '-e', 'for (let i = 0; i < 1e6; i++) Math.sqrt(i); console.log("ran")'], {});
    assert.notEqual(r.status, 0, r.stdout);
  });

  it('is tolerated by the native Codex: doctor passes its worker handshake', { skip }, () => {
    const t = tempDir('cg-mdwe-');
    try {
      const r = underMdwe([gatewayBin, 'doctor'], { PROXY_STATE_DIR: t.dir, HOME: t.dir, CODEX_BIN: CODEX_NATIVE, PORT: '0' });
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /^ok\s+worker\s+app-server handshake/m);
      assert.match(r.stdout, /^ok\s+codex_version\s+codex-cli /m);
    } finally {
      t.remove();
    }
  });
});
