// Helpers for the per-request backends (PROXY_BACKEND=exec|proto): a gateway with its own
// fake log, CODEX_HOME and work directory, the fake's process records, and process checks.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { fakeCodexBin, gatewayBin, readFakeLog, request, startGateway, stopClean, tempDir, waitFor } from './gateway.mjs';

/**
 * Starts a gateway on backend `kind` (null: no PROXY_BACKEND) with FAKE_CODEX_LOG, CODEX_HOME
 * and PROXY_CODEX_WORKDIR under one temporary directory. Returns the gateway with `fakeLog`,
 * `home`, `work`, an openai `client` and `cleanup()` (the directory, after the stop).
 */
export async function startProcs(kind, env = {}) {
  const t = tempDir('cg-procs-');
  const fakeLog = path.join(t.dir, 'fake.jsonl');
  const home = path.join(t.dir, 'home');
  const work = path.join(t.dir, 'work');
  fs.mkdirSync(home);
  fs.mkdirSync(work);
  const full = { FAKE_CODEX_LOG: fakeLog, CODEX_HOME: home, PROXY_CODEX_WORKDIR: work, ...env };
  if (kind) full.PROXY_BACKEND = kind;
  let gw;
  try {
    gw = await startGateway({ env: full, waitReady: true });
  } catch (e) {
    t.remove();
    throw e;
  }
  gw.fakeLog = fakeLog;
  gw.home = home;
  gw.work = work;
  gw.dir = t.dir;
  gw.client = new OpenAI({ apiKey: 'unused', baseURL: `${gw.url}/v1`, maxRetries: 0 });
  gw.cleanup = t.remove;
  return gw;
}

/** A chat body with one user message. */
export const user = (content, extra = {}) => ({ model: 'codex-5', messages: [{ role: 'user', content }], ...extra });
/** The fake's `fake:echo` answer of a chat completion, parsed. */
export const echoOf = (completion) => JSON.parse(completion.choices[0].message.content);

/**
 * Runs `fn` on a fresh gateway on backend `kind`, then checks its clean stop and that no Codex
 * process (nor a child of one) outlives it.
 */
export async function withProcs(assert, kind, env, fn) {
  const gw = await startProcs(kind, env);
  try {
    await fn(gw);
  } finally {
    await stopClean(assert, gw);
    const pids = fakeStarts(gw.fakeLog).map((s) => s.pid).concat(fakeChildren(gw.fakeLog));
    gw.cleanup();
    assert.deepEqual(pids.filter((p) => !pidGone(p)), [], 'no Codex process outlives the gateway');
  }
}

/** The fake's "start" records: one per Codex process, in order. */
export const fakeStarts = (file) => readFakeLog(file).filter((e) => e.event === 'start');

/** Pids the `family` scenario forked (the fake's "child" records). */
export const fakeChildren = (file) => readFakeLog(file).filter((e) => e.event === 'child').map((e) => e.pid);

/** True once `pid` is no process (ESRCH) or only a zombie nobody has reaped yet. */
export function pidGone(pid) {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if (e.code === 'ESRCH') return true;
    throw e;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}

/** Waits (bounded) until every pid in `pids` is gone. */
export function waitGone(pids, timeoutMs = 10000) {
  return waitFor(() => pids.every(pidGone), timeoutMs, `processes ${pids.join(',')} gone`);
}

/** Pids whose parent is `ppid` (zombies included: an unreaped child is a leak too). */
export function childrenOf(ppid) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
    } catch {
      continue;
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[1]) === ppid) out.push(Number(d));
  }
  return out;
}

/** The value of the first sample of `name` (with exactly `labels` when given) in /metrics text. */
export function metric(text, name, labels = null) {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    if (labels !== null && (m[2] || '') !== labels) continue;
    return Number(m[3]);
  }
  return undefined;
}

export async function metricsText(gw) {
  return (await request(gw, '/metrics')).text;
}

/** Runs the gateway binary to its exit: {code, stdout, stderr}. */
export function runGateway(args, env) {
  const t = tempDir('cg-run-');
  return new Promise((resolve) => {
    execFile(gatewayBin, args, { env: { PATH: process.env.PATH, PORT: '0', HOME: t.dir, PROXY_STATE_DIR: t.dir, ...env }, timeout: 20000 },
      (err, stdout, stderr) => {
        t.remove();
        resolve({ code: err ? err.code : 0, stdout, stderr });
      });
  });
}

/**
 * Writes `name` in `dir`: a node script that runs the fake with its own argv and inherited
 * stdio, passes SIGTERM/SIGINT on, and exits with the fake's status. Returns its path.
 */
export function fakeWrapper(dir, name) {
  const file = path.join(dir, name);
  fs.writeFileSync(file, `#!${process.execPath}
const { spawn } = require('node:child_process');
const c = spawn(${JSON.stringify(fakeCodexBin)}, process.argv.slice(2), { stdio: 'inherit' });
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => c.kill(s));
c.on('exit', (code, sig) => process.exit(code === null ? 128 + 15 : code));
`, { mode: 0o755 });
  return file;
}

/** The text of a chat stream's content deltas, per choice index. */
export function streamContent(frames) {
  const out = [];
  for (const f of frames) {
    if (!f.data || typeof f.data !== 'object' || !f.data.choices) continue;
    for (const c of f.data.choices) out[c.index] = (out[c.index] || '') + (c.delta?.content || '');
  }
  return out;
}

/**
 * POSTs a streaming request without waiting for its head (a gateway may hold the head until
 * the first event or keepalive). Returns {abort(), result}: result resolves to the whole body
 * text, or to '' once aborted or failed.
 */
export function launchStream(gw, p, body) {
  const ac = new AbortController();
  const result = fetch(gw.url + p, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
    signal: ac.signal,
  }).then((res) => res.text()).catch(() => '');
  return { abort: () => ac.abort(), result };
}
