// Starts the real codex-gateway binary for a test and talks to it over real sockets.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const binDir = process.env.CG_BIN_DIR || path.join(repoRoot, 'build');
export const gatewayBin = path.join(binDir, 'codex-gateway');
// The fake is a fixture: always the release build (ASan's quarantine would distort its RSS).
export const fakeCodexBin = process.env.FAKE_CODEX_BIN || path.join(repoRoot, 'build', 'fake-codex');
// CG_WRAP runs the gateway under a tool, e.g. `valgrind --error-exitcode=97` (make valgrind);
// the tool execs the gateway in the same process, so pid and signals are the gateway's.
const wrap = (process.env.CG_WRAP || '').split(/\s+/).filter(Boolean);
// Under such a tool the gateway runs many times slower: every wait in the suites stretches, and
// the suites that load it at scale stretch their own timeouts by it.
export const slow = wrap.length ? 10 : 1;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The sha256: form of `key` for a PROXY_API_KEYS_FILE line (`codex-gateway hash-key`). */
export function hashKey(key) {
  const r = spawnSync(gatewayBin, ['hash-key'], { input: `${key}\n`, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`hash-key failed: ${r.stderr}`);
  return r.stdout.trim();
}

/** A fresh directory under the system temp dir, removed by the returned function. */
export function tempDir(prefix = 'cg-test-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Spawns the gateway on a free port (PORT=0) and waits for its "listening" log line. By default
 * the backend is the fake Codex and all state lives in a temporary directory.
 */
export async function startGateway({ env = {}, args = [], startTimeoutMs = 20000, waitReady = false } = {}) {
  const state = tempDir('cg-state-');
  const proc = spawn(wrap.length ? wrap[0] : gatewayBin, wrap.length ? [...wrap.slice(1), gatewayBin, ...args] : args, {
    env: {
      PATH: process.env.PATH,
      HOME: state.dir,
      PROXY_STATE_DIR: state.dir,
      CODEX_BIN: fakeCodexBin,
      PORT: '0',
      ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0',
      UBSAN_OPTIONS: 'print_stacktrace=1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs = [];
  const raw = [];
  const waiters = [];
  const onLine = (line) => {
    raw.push(line);
    let obj = null;
    try {
      obj = JSON.parse(line);
    } catch {
      obj = null;
    }
    if (obj) logs.push(obj);
    for (const w of [...waiters]) {
      if (obj && w.pred(obj)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(obj);
      }
    }
  };
  readline.createInterface({ input: proc.stderr }).on('line', onLine);
  readline.createInterface({ input: proc.stdout }).on('line', onLine);
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));

  function waitForLog(pred, timeoutMs = 20000) {
    timeoutMs *= slow;
    const found = logs.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve };
      waiters.push(w);
      const t = setTimeout(() => {
        const i = waiters.indexOf(w);
        if (i >= 0) waiters.splice(i, 1);
        reject(new Error(`log line not seen within ${timeoutMs} ms; stderr:\n${raw.slice(-40).join('\n')}`));
      }, timeoutMs);
      t.unref();
    });
  }

  const listening = await Promise.race([
    waitForLog((l) => l.event === 'listening', startTimeoutMs),
    exited.then(({ code, signal }) => {
      throw new Error(`gateway exited before listening (code ${code}, signal ${signal}):\n${raw.join('\n')}`);
    }),
  ]);
  const port = listening.port;
  let stopped = null;
  const gw = {
    stateDir: state.dir,
    proc,
    pid: proc.pid,
    port,
    url: `http://127.0.0.1:${port}`,
    logs,
    raw,
    exited,
    waitForLog,
    /** Sends `signal` and waits for the exit; returns {code, signal, stderr}. */
    async stop(sig = 'SIGTERM', timeoutMs = 30000) {
      if (!stopped) {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill(sig);
        let timer;
        const overdue = new Promise((resolve) => {
          timer = setTimeout(() => {
            proc.kill('SIGKILL');
            resolve({ code: null, signal: 'SIGKILL', timedOut: true });
          }, timeoutMs);
        });
        stopped = Promise.race([exited, overdue]).then((r) => {
          clearTimeout(timer);
          state.remove();
          return { ...r, stderr: raw.join('\n') };
        });
      }
      return stopped;
    },
  };
  if (waitReady) await waitFor(async () => (await request(gw, '/readyz')).status === 200, 20000, 'gateway ready');
  return gw;
}

/** Polls `check` until it returns true; fails with `what` after `timeoutMs`. */
export async function waitFor(check, timeoutMs = 20000, what = 'condition') {
  const until = Date.now() + timeoutMs * slow;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** Stops the gateway and checks it exited 0 with no sanitizer report. */
export async function stopClean(assert, gw) {
  const r = await gw.stop();
  const report = /ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|==\d+== (Invalid|Conditional|Use of|Syscall param|Mismatched|Source and destination)|==\d+== .* are definitely lost/.exec(r.stderr);
  assert.equal(report, null, `sanitizer report in gateway stderr:\n${r.stderr.slice(-4000)}`);
  assert.equal(r.code, 0, `gateway exit code ${r.code} signal ${r.signal}\n${r.stderr.slice(-2000)}`);
  return r;
}

/**
 * Opens a raw TCP connection, writes `chunks` (strings/Buffers, optionally with pauses given as
 * numbers of ms between them), and collects everything received until the server closes or
 * `untilMs` passes. Returns { data: Buffer, closed: boolean }.
 */
export function rawExchange(port, chunks, { untilMs = 5000, endAfterWrite = false } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const parts = [];
    let closed = false;
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ data: Buffer.concat(parts), closed });
    }, untilMs);
    sock.on('data', (d) => parts.push(d));
    sock.on('error', () => {});
    sock.on('close', () => {
      closed = true;
      clearTimeout(timer);
      resolve({ data: Buffer.concat(parts), closed });
    });
    sock.on('connect', async () => {
      try {
        for (const c of chunks) {
          if (typeof c === 'number') await sleep(c);
          else sock.write(c);
        }
        if (endAfterWrite) sock.end();
      } catch (e) {
        reject(e);
      }
    });
  });
}

/**
 * Sends a request `head` that asks for 100-continue, waits for the first response head, then
 * sends `body` and collects until `done(text)` holds. Returns { interim, text }: the first head
 * the gateway sent, and everything received.
 */
export async function continueExchange(port, head, body, done) {
  const sock = net.connect(port, '127.0.0.1');
  let text = '';
  sock.on('data', (d) => (text += d.toString()));
  await new Promise((r) => sock.on('connect', r));
  sock.write(head);
  while (!text.includes('\r\n\r\n')) await sleep(10);
  const interim = text;
  sock.write(body);
  while (!done(text)) await sleep(10);
  sock.destroy();
  return { interim, text };
}

/** Splits raw bytes into HTTP/1.1 responses (Content-Length or chunked bodies). */
export function parseResponses(buf) {
  const out = [];
  let s = buf.toString('latin1');
  while (s.length > 0) {
    const headEnd = s.indexOf('\r\n\r\n');
    if (headEnd < 0) break;
    const head = s.slice(0, headEnd);
    const lines = head.split('\r\n');
    const m = /^HTTP\/1\.(\d) (\d{3}) ?(.*)$/.exec(lines[0]);
    if (!m) throw new Error(`not an HTTP response: ${JSON.stringify(lines[0])}`);
    const headers = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    let rest = s.slice(headEnd + 4);
    let body = '';
    const status = Number(m[2]);
    if (status === 100 || status === 204) {
      // no body
    } else if (headers['transfer-encoding'] === 'chunked') {
      for (;;) {
        const le = rest.indexOf('\r\n');
        if (le < 0) break;
        const size = parseInt(rest.slice(0, le), 16);
        rest = rest.slice(le + 2);
        if (size === 0) {
          rest = rest.slice(2);
          break;
        }
        body += rest.slice(0, size);
        rest = rest.slice(size + 2);
      }
    } else if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      body = rest.slice(0, n);
      rest = rest.slice(n);
    }
    out.push({ status, headers, body: Buffer.from(body, 'latin1').toString('utf8'), version: `1.${m[1]}` });
    s = rest;
  }
  return out;
}

/** fetch() with a JSON body parsed when there is one. */
export async function request(gw, p, init = {}) {
  const res = await fetch(gw.url + p, init);
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: res.status, headers: res.headers, text, json };
}

export function assertOpenAIError(assert, body, { code, type, param } = {}) {
  assert.ok(body && body.error, `expected an error body, got ${JSON.stringify(body)}`);
  const e = body.error;
  assert.deepEqual(Object.keys(e).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(typeof e.message, 'string');
  assert.ok(e.message.length > 0);
  if (code !== undefined) assert.equal(e.code, code);
  if (type !== undefined) assert.equal(e.type, type);
  if (param !== undefined) assert.equal(e.param, param);
}

export { sleep };

/** Reads a FAKE_CODEX_LOG file: one JSON object per line ({event:"start"|"recv", ...}). */
export function readFakeLog(file) {
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

/** JSON-RPC methods the fake received, in order (from a FAKE_CODEX_LOG file). */
export function fakeMethods(file) {
  return readFakeLog(file)
    .filter((e) => e.event === 'recv' && e.line && typeof e.line === 'object' && e.line.method)
    .map((e) => e.line);
}

/**
 * Splits an SSE body into its frames: {data} for `data:` lines (JSON-parsed when possible),
 * {comment} for `:` lines.
 */
export function sseFrames(text) {
  const frames = [];
  for (const block of text.split('\n\n')) {
    if (!block) continue;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) frames.push({ comment: line.slice(1).trim() });
      else if (line.startsWith('data: ')) {
        const d = line.slice(6);
        let data = d;
        try {
          data = JSON.parse(d);
        } catch {
          data = d;
        }
        frames.push({ data });
      }
    }
  }
  return frames;
}

/** POSTs a chat completion with fetch; returns {status, headers, text, json}. */
export function chat(gw, body, { headers = {}, path: p = '/v1/chat/completions', signal } = {}) {
  return request(gw, p, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal,
  });
}

/** Health summary of the gateway's backend. */
export async function backendHealth(gw, headers = {}) {
  return (await request(gw, '/healthz', { headers })).json.backend;
}

/** RSS (kB) and open file descriptors of a process. */
export function procStats(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
  const fds = fs.readdirSync(`/proc/${pid}/fd`).length;
  return { rss, fds };
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}
