// bench/backends.mjs: what a request costs on each backend before its first content arrives,
// and the memory a running request holds. For each case (app-server, exec and proto on the
// fake; app-server and exec on the real pinned Codex CLI against the local mock model): a fresh
// gateway, a warm-up, then BACKENDS_REQUESTS streamed chat requests one at a time, each timed
// from the request sent to its first content chunk (TTFC) and to its end; then
// BACKENDS_RUNNING slow streams at once, with the resident memory of every process under the
// gateway (its Codex workers or per-request processes and their children, summed from /proc)
// sampled while all of them run. Prints one line per case and a summary table.
//
//   node bench/backends.mjs            (after `make build` and `cd tests && npm ci`)
//   BACKENDS_REQUESTS=50 BACKENDS_CASES=exec-real,app-server-real node bench/backends.mjs
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot, request, startGateway, tempDir, waitFor } from '../tests/lib/gateway.mjs';
import { startMockModel } from '../tests/e2e/mock-model.mjs';
import { CODEX_NATIVE, providerConfig } from '../tests/e2e/codex.mjs';

const N = Number(process.env.BACKENDS_REQUESTS || 30);
const RUNNING = Number(process.env.BACKENDS_RUNNING || 4);
const FAKE = path.join(repoRoot, 'build', 'fake-codex');

const CASES = [
  { name: 'app-server-fake', backend: 'app-server', real: false },
  { name: 'exec-fake', backend: 'exec', real: false },
  { name: 'proto-fake', backend: 'proto', real: false },
  { name: 'app-server-real', backend: 'app-server', real: true },
  { name: 'exec-real', backend: 'exec', real: true },
];
const only = (process.env.BACKENDS_CASES || '').split(',').filter(Boolean);

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** Every process under `pid` (children, grandchildren, ...), from /proc. */
function descendants(pid) {
  const parent = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out = [];
  const todo = [pid];
  while (todo.length) {
    const p = todo.pop();
    for (const [c, pp] of parent) {
      if (pp === p) {
        out.push(c);
        todo.push(c);
      }
    }
  }
  return out;
}

function rssKb(pid) {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** One streamed chat request: ms to the first content chunk and to the end. */
async function timedStream(gw, content) {
  const t0 = performance.now();
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-no-keepalive': '1' },
    body: JSON.stringify({ model: 'codex-5', stream: true, messages: [{ role: 'user', content }] }),
    signal: AbortSignal.timeout(120000),
  });
  if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`);
  let first = null;
  let buf = '';
  const dec = new TextDecoder();
  for await (const chunk of res.body) {
    buf += dec.decode(chunk, { stream: true });
    if (first === null && /"content":"[^"]/.test(buf)) first = performance.now() - t0;
  }
  if (!buf.includes('data: [DONE]')) throw new Error('stream did not end with [DONE]');
  if (buf.includes('"error"')) throw new Error(`in-band error: ${buf.slice(0, 300)}`);
  return { ttfc: first ?? NaN, total: performance.now() - t0 };
}

async function runCase(c, mock) {
  const home = tempDir('cg-bench-home-');
  const env = {
    PROXY_BACKEND: c.backend,
    PROXY_LOG_LEVEL: 'warn',
    PROXY_MAX_CONCURRENT_PROCESSES: String(RUNNING),
    WORKER_MAX_CONCURRENCY: String(RUNNING),
    FAKE_CODEX_THREAD_BYTES: '0',
    CODEX_HOME: home.dir,
  };
  if (c.real) {
    fs.writeFileSync(path.join(home.dir, 'config.toml'), providerConfig(mock.url));
    Object.assign(env, { CODEX_BIN: CODEX_NATIVE, CODEX_MODEL: 'mock-model' });
  } else {
    env.CODEX_BIN = FAKE;
  }
  const gw = await startGateway({ env, startTimeoutMs: 60000 });
  try {
    await waitFor(async () => (await request(gw, '/readyz')).status === 200, 60000, 'ready');
    const quick = 'hello';
    for (let i = 0; i < 3; i++) await timedStream(gw, quick); // warm-up
    const ttfc = [];
    const total = [];
    for (let i = 0; i < N; i++) {
      const r = await timedStream(gw, quick);
      ttfc.push(r.ttfc);
      total.push(r.total);
    }
    ttfc.sort((a, b) => a - b);
    total.sort((a, b) => a - b);
    // RUNNING slow streams at once; sample the memory under the gateway while all run.
    // About 2 s each: the mock's slow stream, the fake's 20 deltas 100 ms apart (app-server,
    // proto), or its 2 s pause before the whole message (exec).
    const slow = c.real ? 'mock:slow' : c.backend === 'exec' ? 'fake:slow=2000' : 'fake:slow=100,20';
    // A per-request process may still be exiting after its answer: idle means none left.
    if (c.backend !== 'app-server') {
      await waitFor(async () => (await request(gw, '/healthz')).json?.backend?.processes?.running === 0,
        10000, 'the processes gone');
    }
    const idle = descendants(gw.pid).reduce((s, p) => s + rssKb(p), 0);
    const running = Array.from({ length: RUNNING }, () => timedStream(gw, slow));
    let peak = 0;
    let peakProcs = 0;
    const sampler = (async () => {
      for (let i = 0; i < 40; i++) {
        await new Promise((r) => setTimeout(r, 40));
        const procs = descendants(gw.pid);
        const kb = procs.reduce((s, p) => s + rssKb(p), 0);
        if (kb > peak) {
          peak = kb;
          peakProcs = procs.length;
        }
      }
    })();
    await Promise.all([...running, sampler]);
    const line = {
      case: c.name,
      requests: N,
      ttfc_p50_ms: +percentile(ttfc, 50).toFixed(2),
      ttfc_p99_ms: +percentile(ttfc, 99).toFixed(2),
      total_p50_ms: +percentile(total, 50).toFixed(2),
      codex_rss_idle_mb: +(idle / 1024).toFixed(1),
      codex_rss_running_mb: +(peak / 1024).toFixed(1),
      running: RUNNING,
      codex_rss_per_running_mb: +((peak - idle) / 1024 / RUNNING).toFixed(1),
      processes: peakProcs,
      gateway_rss_mb: +(rssKb(gw.pid) / 1024).toFixed(1),
    };
    console.log(`backends ${Object.entries(line).map(([k, v]) => `${k}=${v}`).join(' ')}`);
    return line;
  } finally {
    await gw.stop();
    home.remove();
  }
}

const mock = await startMockModel();
const results = [];
try {
  for (const c of CASES) {
    if (only.length && !only.includes(c.name)) continue;
    if (c.real && !fs.existsSync(CODEX_NATIVE)) {
      console.log(`backends case=${c.name} skipped: ${CODEX_NATIVE} missing (cd tests && npm ci)`);
      continue;
    }
    results.push(await runCase(c, mock));
  }
} finally {
  await mock.close();
}
console.log('\n| case | TTFC p50 ms | TTFC p99 ms | total p50 ms | Codex RSS idle MB | per running request MB |');
console.log('|---|---|---|---|---|---|');
for (const r of results) {
  console.log(`| ${r.case} | ${r.ttfc_p50_ms} | ${r.ttfc_p99_ms} | ${r.total_p50_ms} | ${r.codex_rss_idle_mb} | ${r.codex_rss_per_running_mb} |`);
}
