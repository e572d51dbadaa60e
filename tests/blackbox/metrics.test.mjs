// GET /metrics: the Prometheus exposition, its counters after real requests, and its access rules.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { after, before, describe, it } from 'node:test';
import { chat, request, sseFrames, startGateway, stopClean, waitFor } from '../lib/gateway.mjs';

function nonLoopbackAddress() {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list || []) {
      if (a.family === 'IPv4' && !a.internal) return a.address;
    }
  }
  return null;
}

/** Parses the exposition into {samples: Map("name{labels}" -> number), types: Map(name -> type)}. */
function parseMetrics(text) {
  const samples = new Map();
  const types = new Map();
  for (const line of text.split('\n')) {
    if (!line) continue;
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t) types.set(t[1], t[2]);
    if (line.startsWith('#')) continue;
    const m = /^(\S+?(?:\{.*\})?) (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    samples.set(m[1], Number(m[2]));
  }
  return { samples, types };
}

async function scrape(gw, headers = {}) {
  const r = await request(gw, '/metrics', { headers });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  return { text: r.text, ...parseMetrics(r.text) };
}

const value = (m, series) => m.samples.get(series) ?? 0;
const moved = (before, after, series) => value(after, series) - value(before, series);

const user = (content, extra = {}) => ({ model: 'codex-5', messages: [{ role: 'user', content }], ...extra });

describe('metrics exposition', { timeout: 120000 }, () => {
  let gw;
  before(async () => {
    gw = await startGateway({ waitReady: true });
  });
  after(async () => {
    await stopClean(assert, gw);
  });

  it('counts JSON, stream and failed requests, their tokens, latency and first output', async () => {
    const m0 = await scrape(gw);
    const json = await chat(gw, user('fake:reasoning'), { headers: { 'X-Request-Id': 'metrics-json' } });
    assert.equal(json.status, 200, json.text);
    const streamed = await chat(gw, user('hi', { stream: true, stream_options: { include_usage: true } }));
    assert.equal(streamed.status, 200);
    const failed = await chat(gw, user('fake:error'), { headers: { 'X-Request-Id': 'metrics-failed' } });
    assert.ok(failed.status >= 400, failed.text);
    const m1 = await scrape(gw);

    const req = (cls) => `codex_gateway_requests_total{route="chat",method="POST",status_class="${cls}",model="codex-5"}`;
    const failedClass = `${Math.floor(failed.status / 100)}xx`;
    assert.equal(moved(m0, m1, req('2xx')), 2);
    assert.equal(moved(m0, m1, req(failedClass)), 1);
    assert.equal(moved(m0, m1, 'codex_gateway_stream_outcomes_total{route="chat",outcome="completed"}'), 1);
    assert.equal(moved(m0, m1, 'codex_gateway_stream_duration_seconds_count{route="chat"}'), 1, 'the one stream');
    const errors = [...m1.samples].filter(([k]) => k.startsWith('codex_gateway_request_errors_total{route="chat",'));
    assert.equal(errors.reduce((n, [k]) => n + moved(m0, m1, k), 0), 1, 'one failed request');

    const streamUsage = sseFrames(streamed.text).find((f) => f.data && f.data.usage).data.usage;
    const usages = [json.json.usage, streamUsage];
    const sum = (f) => usages.reduce((n, u) => n + f(u), 0);
    const tok = (kind) => `codex_gateway_tokens_total{model="codex-5",key="loopback",kind="${kind}"}`;
    assert.ok(sum((u) => u.prompt_tokens) > 0);
    assert.equal(moved(m0, m1, tok('input')), sum((u) => u.prompt_tokens));
    assert.equal(moved(m0, m1, tok('output')), sum((u) => u.completion_tokens));
    assert.equal(moved(m0, m1, tok('cached')), sum((u) => u.prompt_tokens_details?.cached_tokens ?? 0));
    assert.equal(moved(m0, m1, tok('reasoning')), sum((u) => u.completion_tokens_details?.reasoning_tokens ?? 0));
    assert.ok(moved(m0, m1, tok('reasoning')) > 0, 'the reasoning scenario reports reasoning tokens');

    assert.equal(moved(m0, m1, 'codex_gateway_request_duration_seconds_count{route="chat"}'), 3);
    assert.equal(moved(m0, m1, 'codex_gateway_time_to_first_token_seconds_count{route="chat"}'), 2,
      'the failed turn produced no output');
    assert.equal(m1.types.get('codex_gateway_request_duration_seconds'), 'histogram');
    assert.equal(m1.types.get('codex_gateway_requests_total'), 'counter');
    // Cumulative buckets: never decreasing, +Inf equal to the count.
    const buckets = [...m1.samples].filter(([k]) => k.startsWith('codex_gateway_request_duration_seconds_bucket{route="chat",'));
    assert.equal(buckets.length, 18);
    for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i][1] >= buckets[i - 1][1], buckets[i][0]);
    assert.equal(buckets.at(-1)[0], 'codex_gateway_request_duration_seconds_bucket{route="chat",le="+Inf"}');
    assert.equal(buckets.at(-1)[1], value(m1, 'codex_gateway_request_duration_seconds_count{route="chat"}'));
    assert.doesNotMatch(m1.text, /req_[A-Za-z0-9]/, 'no request ids');
  });

  it('logs one access line per model request, with its outcome, time to first output, worker and tokens', async () => {
    const ok = await gw.waitForLog((l) => l.event === 'access' && 'outcome' in l && l.req_id === 'metrics-json');
    assert.equal(ok.outcome, 'completed');
    assert.equal(typeof ok.ttfb_ms, 'number');
    assert.ok(ok.ttfb_ms <= ok.ms, `${ok.ttfb_ms} <= ${ok.ms}`);
    assert.equal(ok.worker, 0);
    assert.equal(ok.key, 'loopback');
    assert.ok(ok.reasoning_tokens > 0);
    const bad = await gw.waitForLog((l) => l.event === 'access' && 'outcome' in l && l.req_id === 'metrics-failed');
    assert.equal(bad.outcome, 'error');
    assert.equal(bad.ttfb_ms, null);
    assert.equal(ok.method, 'POST');
    assert.equal(ok.path, '/v1/chat/completions');
    assert.ok(ok.bytes > 0);
    for (const id of ['metrics-json', 'metrics-failed']) {
      const lines = gw.logs.filter((l) => l.req_id === id).map((l) => l.event);
      assert.deepEqual(lines, ['access'], `${id}: one line per request`);
    }
  });

  it('counts requests refused before any run, and every other route, by method', async () => {
    const m0 = await scrape(gw);
    assert.equal((await chat(gw, '{"bad')).status, 400);
    assert.equal((await request(gw, '/v1/nowhere')).status, 404);
    assert.equal((await request(gw, '/v1/chat/completions')).status, 405);
    assert.equal((await request(gw, '/healthz')).status, 200);
    const m1 = await scrape(gw);
    const req = (route, method, cls) =>
      `codex_gateway_requests_total{route="${route}",method="${method}",status_class="${cls}",model="none"}`;
    assert.equal(moved(m0, m1, req('chat', 'POST', '4xx')), 1, 'a bad body names no model');
    assert.equal(moved(m0, m1, req('unmatched', 'GET', '4xx')), 1);
    assert.equal(moved(m0, m1, req('chat', 'GET', '4xx')), 1);
    assert.equal(moved(m0, m1, req('healthz', 'GET', '2xx')), 1);
    assert.doesNotMatch(m1.text, /nowhere/, 'no raw paths');
  });

  it('reports the workers, the queue, connections and the process', async () => {
    const m = await scrape(gw);
    const ready = [...m.samples].filter(([k, v]) => k.startsWith('codex_gateway_worker_state{') && v === 1);
    assert.equal(ready.length, 1, 'one worker, in exactly one state');
    assert.match(ready[0][0], /state="ready"/);
    assert.equal([...m.samples].filter(([k]) => k.startsWith('codex_gateway_worker_ready{')).map(([, v]) => v).join(), '1');
    assert.equal(value(m, 'codex_gateway_queue_depth'), 0);
    assert.ok(value(m, 'codex_gateway_http_connections') >= 1, 'the scrape itself is a connection');
    assert.ok(value(m, 'codex_gateway_http_requests_total') >= 1);
    assert.ok(value(m, 'process_resident_memory_bytes') > 1024 * 1024);
    assert.ok(value(m, 'process_open_fds') > 3);
    assert.ok(m.samples.has('process_cpu_seconds_total'));
    assert.ok(m.samples.has('codex_gateway_codex_home_bytes'));
    assert.ok(m.samples.has('codex_gateway_worker_restarts_total{worker="0"}') ||
      m.samples.has('codex_gateway_worker_restarts_total{worker="1"}'));
    assert.equal(value(m, 'codex_gateway_worker_backoff_seconds{worker="0"}'), 0, 'a ready worker waits for no restart');
    assert.ok(m.samples.has('codex_gateway_worker_backoff_seconds{worker="0"}'));
    assert.equal(value(m, 'codex_gateway_streams_active'), 0);
  });

  it('shows streams in flight and the time turns waited in the queue', async () => {
    const gw1 = await startGateway({ env: { WORKER_MAX_CONCURRENCY: '1' }, waitReady: true });
    try {
      const ctrl = new AbortController();
      const slow = await fetch(`${gw1.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(user('fake:slow=100,10', { stream: true })),
        signal: ctrl.signal,
      });
      assert.equal(slow.status, 200);
      const queued = chat(gw1, user('hi')); // waits for the one slot
      await waitFor(async () => value(await scrape(gw1), 'codex_gateway_streams_active') === 1, 10000, 'one stream');
      await waitFor(async () => value(await scrape(gw1), 'codex_gateway_queue_depth') === 1, 10000, 'one queued');
      ctrl.abort();
      await slow.text().catch(() => {});
      assert.equal((await queued).status, 200);
      const m = await scrape(gw1);
      assert.equal(value(m, 'codex_gateway_streams_active'), 0);
      assert.equal(value(m, 'codex_gateway_queue_wait_seconds_count'), 1);
      assert.ok(value(m, 'codex_gateway_queue_wait_seconds_sum') > 0);
      assert.equal(value(m, 'codex_gateway_queue_wait_seconds_bucket{le="+Inf"}'), 1);
    } finally {
      await stopClean(assert, gw1);
    }
  });

  it('reports the account quota once Codex reported it', async () => {
    const m0 = await scrape(gw);
    assert.ok(!m0.samples.has('codex_gateway_account_quota_used_ratio{window="primary"}'));
    assert.equal((await chat(gw, user('fake:quota=40'))).status, 200);
    const m1 = await scrape(gw);
    assert.equal(value(m1, 'codex_gateway_account_quota_used_ratio{window="primary"}'), 0.4);
  });

  it('passes promtool check metrics', async () => {
    const { text } = await scrape(gw);
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30000 });
    assert.equal(r.error, undefined, 'promtool must be installed (scripts/install-deps test)');
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.equal(`${r.stdout}${r.stderr}`.trim(), '', 'no lint findings');
  });
});

describe('metrics access', { timeout: 60000 }, () => {
  it('serves loopback clients; others need PROXY_METRICS_TOKEN', async () => {
    const addr = nonLoopbackAddress();
    assert.ok(addr, 'this test needs a non-loopback IPv4 interface to connect from');
    const gw = await startGateway({ env: { PROXY_HOST: '0.0.0.0', PROXY_METRICS_TOKEN: 'scrape-me', PROXY_API_KEY: 'client-key' } });
    try {
      await scrape(gw);
      const remote = { url: `http://${addr}:${gw.port}` };
      await scrape(remote, { Authorization: 'Bearer scrape-me' });
      for (const [h, status] of [[undefined, 401], ['Bearer nope', 401], ['Bearer client-key', 401], ['Basic c2NyYXBlLW1l', 401]]) {
        const r = await request(remote, '/metrics', { headers: h ? { Authorization: h } : {} });
        assert.equal(r.status, status, String(h));
        assert.equal(r.json.error.code, 'invalid_api_key');
      }
      const r = await request(remote, '/healthz', { headers: { Authorization: 'Bearer scrape-me' } });
      assert.equal(r.status, 401, 'the metrics token opens nothing else');
    } finally {
      await stopClean(assert, gw);
    }
  });

  it('without a token refuses non-loopback clients with 403', async () => {
    const addr = nonLoopbackAddress();
    assert.ok(addr, 'this test needs a non-loopback IPv4 interface to connect from');
    const gw = await startGateway({ env: { PROXY_HOST: '0.0.0.0', PROXY_API_KEY: 'client-key' } });
    try {
      const remote = { url: `http://${addr}:${gw.port}` };
      const r = await request(remote, '/metrics', { headers: { Authorization: 'Bearer client-key' } });
      assert.equal(r.status, 403);
      assert.equal(r.json.error.code, 'loopback_only');
      assert.match(r.json.error.message, /PROXY_METRICS_TOKEN/);
    } finally {
      await stopClean(assert, gw);
    }
  });

  it('counts rate-limit rejections by reason and the usage ledger\'s rows', async () => {
    const gw = await startGateway({
      env: { PROXY_RATE_LIMIT_ENABLED: 'true', PROXY_RATE_LIMIT_WINDOW_MS: '600000', PROXY_RATE_LIMIT_MAX: '2' },
      waitReady: true,
    });
    try {
      const m0 = await scrape(gw);
      for (const reason of ['requests', 'tokens', 'concurrency', 'auth_failures'])
        assert.ok(m0.samples.has(`codex_gateway_rate_limit_rejections_total{reason="${reason}"}`), reason);
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await chat(gw, user('hi'))).status);
      assert.deepEqual(statuses, [200, 200, 429]);
      const m1 = await scrape(gw);
      assert.equal(moved(m0, m1, 'codex_gateway_rate_limit_rejections_total{reason="requests"}'), 1);
      let m2;
      await waitFor(async () => {
        m2 = await scrape(gw);
        return value(m2, 'codex_gateway_ledger_rows_written_total') === 2;
      }, 10000, 'two ledger rows committed');
      assert.equal(value(m2, 'codex_gateway_ledger_rows_lost_total'), 0);
      assert.equal(value(m2, 'codex_gateway_ledger_rows_waiting'), 0);
      assert.ok(value(m2, 'codex_gateway_ledger_batches_total') >= 1);
      assert.equal(value(m2, 'codex_gateway_ledger_write_seconds_count'), value(m2, 'codex_gateway_ledger_batches_total'),
        'one write-latency observation per committed batch');
      assert.ok(value(m2, 'codex_gateway_ledger_write_seconds_sum') > 0);
      assert.equal(value(m2, 'codex_gateway_ledger_write_seconds_bucket{le="+Inf"}'), value(m2, 'codex_gateway_ledger_write_seconds_count'));
      assert.equal(moved(m0, m2, 'codex_gateway_requests_total{route="chat",method="POST",status_class="4xx",model="none"}'), 1,
        'the refused request is counted, though it never ran');
    } finally {
      await stopClean(assert, gw);
    }
  });

  it('answers 404 when PROXY_ENABLE_METRICS=false', async () => {
    const gw = await startGateway({ env: { PROXY_ENABLE_METRICS: 'false' } });
    try {
      const r = await request(gw, '/metrics');
      assert.equal(r.status, 404);
      assert.equal(r.json.error.code, 'unknown_url');
    } finally {
      await stopClean(assert, gw);
    }
  });
});
