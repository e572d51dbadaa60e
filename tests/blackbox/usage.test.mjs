// The usage ledger (in PROXY_STATE_DIR/gateway.db) and GET /v1/usage, /v1/usage/raw over real
// HTTP: one row per model request however it ends, with the fake's counts; sums and buckets; each
// key sees its own rows, an admin every key's; rows survive a restart; a ledger that cannot be
// written loses rows, never a request.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertOpenAIError, chat, request, startGateway, stopClean, tempDir, waitFor } from '../lib/gateway.mjs';


/** Another process holding the write lock of `db` (so every write of the gateway's fails once
 * its busy timeout passes) until release() is called. Root ignores file modes, a lock it does not. */
async function lockDatabase(db) {
  const script = [
    'import sqlite3, sys',
    `c = sqlite3.connect(${JSON.stringify(db)}, isolation_level=None, timeout=20)`,
    "c.execute('BEGIN EXCLUSIVE')",
    "print('locked', flush=True)",
    'sys.stdin.read()',
    "c.execute('ROLLBACK')",
  ].join('\n');
  const proc = spawn('python3', ['-c', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    proc.stdout.on('data', (d) => String(d).includes('locked') && resolve());
    proc.on('exit', (code) => reject(new Error(`the lock holder exited with ${code}`)));
  });
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  return {
    async release() {
      proc.stdin.end();
      await exited;
    },
  };
}

const user = (content, extra = {}) => ({ model: 'codex-5', messages: [{ role: 'user', content }], ...extra });
const bearer = (key) => (key ? { Authorization: `Bearer ${key}` } : {});

async function usage(gw, query = '', key) {
  return request(gw, `/v1/usage${query}`, { headers: bearer(key) });
}

/** The newest rows once there are at least `n`. */
async function rawRows(gw, n, key) {
  let events = [];
  await waitFor(async () => {
    const r = await request(gw, '/v1/usage/raw?limit=100', { headers: bearer(key) });
    assert.equal(r.status, 200, r.text);
    events = r.json.events;
    return events.length >= n;
  }, 10000, `${n} ledger rows`);
  return events;
}

describe('usage ledger rows', { timeout: 60000 }, () => {
  let gw;
  before(async () => {
    gw = await startGateway({ waitReady: true });
  });
  after(async () => {
    await stopClean(assert, gw);
  });

  it('a JSON request leaves one row with the counts the client saw', async () => {
    const r = await chat(gw, user('fake:usage=100,40,30,10'));
    assert.equal(r.status, 200, r.text);
    const rows = await rawRows(gw, 1);
    const row = rows.find((e) => e.request_id === r.headers.get('x-request-id'));
    assert.ok(row, JSON.stringify(rows));
    assert.equal(row.prompt_tokens, 100);
    assert.equal(row.cached_tokens, 40);
    assert.equal(row.completion_tokens, 30);
    assert.equal(row.reasoning_tokens, 10);
    assert.equal(row.total_tokens, 130);
    assert.equal(row.prompt_tokens, r.json.usage.prompt_tokens);
    assert.equal(row.route, 'chat');
    assert.equal(row.model, 'codex-5');
    assert.equal(row.stream, false);
    assert.equal(row.status, 200);
    assert.equal(row.outcome, 'completed');
    assert.equal(row.error, null);
    assert.equal(row.key, 'loopback');
    assert.equal(typeof row.duration_ms, 'number');
    assert.equal(typeof row.ts, 'number');
    assert.equal(row.worker, 0);
  });

  it('a stream, a tool call, a client abort and an error each leave their row', async () => {
    const before = (await rawRows(gw, 0)).length;
    const s = await chat(gw, user('fake:usage=7,0,3', { stream: true }));
    assert.equal(s.status, 200);
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: {} } } }];
    const t = await chat(gw, user('fake:tools fake:usage=11,2,5', { tools }));
    assert.equal(t.status, 200, t.text);
    assert.equal(t.json.choices[0].finish_reason, 'tool_calls');
    const e = await chat(gw, user('fake:error=ratelimit'));
    assert.equal(e.status, 429);

    const ctl = new AbortController();
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(user('fake:slow=100,50', { stream: true })),
      signal: ctl.signal,
    });
    const abortedId = res.headers.get('x-request-id');
    const reader = res.body.getReader();
    await reader.read();
    ctl.abort();

    const rows = await rawRows(gw, before + 4);
    const byId = (id) => rows.find((row) => row.request_id === id);
    const sr = byId(s.headers.get('x-request-id'));
    assert.equal(sr.stream, true);
    assert.equal(sr.outcome, 'completed');
    assert.deepEqual([sr.prompt_tokens, sr.completion_tokens], [7, 3]);
    assert.equal(typeof sr.ttfb_ms, 'number');
    const tr = byId(t.headers.get('x-request-id'));
    assert.equal(tr.outcome, 'completed');
    assert.deepEqual([tr.prompt_tokens, tr.cached_tokens, tr.completion_tokens], [11, 2, 5]);
    const er = byId(e.headers.get('x-request-id'));
    assert.equal(er.status, 429);
    assert.equal(er.outcome, 'error');
    assert.equal(er.error, 'rate_limit_exceeded');
    const ar = byId(abortedId);
    assert.ok(ar, 'the aborted stream has its row');
    assert.equal(ar.outcome, 'client_closed');
    assert.equal(ar.error, 'client_closed');
  });

  it('sums rows and groups them by hour, day, model and key', async () => {
    const all = await rawRows(gw, 1);
    const r = await usage(gw);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.object, 'usage');
    assert.equal(r.json.total_requests, all.length);
    const sum = (f) => all.reduce((a, e) => a + e[f], 0);
    for (const f of ['prompt_tokens', 'completion_tokens', 'total_tokens', 'cached_tokens', 'reasoning_tokens']) {
      assert.equal(r.json[f], sum(f), f);
    }
    assert.equal(r.json.buckets, undefined);
    for (const g of ['hour', 'day']) {
      const b = await usage(gw, `?group_by=${g}`);
      assert.equal(b.json.group, g);
      assert.ok(b.json.buckets.length >= 1);
      assert.match(b.json.buckets[0].ts, /^\d{4}-\d\d-\d\dT\d\d:00:00\.000Z$/);
      assert.equal(b.json.buckets.reduce((a, x) => a + x.requests, 0), all.length);
    }
    const m = await usage(gw, '?group=model');
    assert.deepEqual(m.json.buckets.map((x) => x.model), ['codex-5']);
    const k = await usage(gw, '?group_by=key');
    assert.deepEqual(k.json.buckets.map((x) => x.key), ['loopback']);
  });

  it('takes start and end as Unix seconds or ISO dates', async () => {
    const now = Math.floor(Date.now() / 1000);
    const all = (await usage(gw)).json.total_requests;
    assert.equal((await usage(gw, `?start=${now - 3600}&end=${now + 3600}`)).json.total_requests, all);
    assert.equal((await usage(gw, `?end=${now - 3600}`)).json.total_requests, 0);
    assert.equal((await usage(gw, '?start=2000-01-01&end=2000-01-02T00:00:00Z')).json.total_requests, 0);
    const r = await usage(gw, '?start=2000-01-01');
    assert.equal(r.json.start, 946684800);
    assert.equal(r.json.total_requests, all);
  });

  it('answers bad parameters with 400 naming them', async () => {
    const cases = [
      ['/v1/usage?start=yesterday', 'start'],
      ['/v1/usage?end=2026-13-01', 'end'],
      ['/v1/usage?start=100&end=50', 'end'],
      ['/v1/usage?group_by=week', 'group_by'],
      ['/v1/usage/raw?limit=0', 'limit'],
      ['/v1/usage/raw?limit=10001', 'limit'],
      ['/v1/usage/raw?limit=ten', 'limit'],
    ];
    for (const [p, param] of cases) {
      const r = await request(gw, p);
      assert.equal(r.status, 400, p);
      assertOpenAIError(assert, r.json, { param, type: 'invalid_request_error' });
    }
  });
});

describe('usage ledger: keys', { timeout: 60000 }, () => {
  let gw;
  before(async () => {
    gw = await startGateway({ env: { PROXY_API_KEY: 'key-a,key-b,key-admin', PROXY_ADMIN_KEYS: ' key-admin ' }, waitReady: true });
  });
  after(async () => {
    await stopClean(assert, gw);
  });

  it('a key sees only its own rows; an admin key sees every key', async () => {
    for (const key of ['key-a', 'key-a', 'key-b']) {
      const r = await chat(gw, user('fake:usage=10,0,1'), { headers: bearer(key) });
      assert.equal(r.status, 200, r.text);
    }
    await rawRows(gw, 3, 'key-admin');
    const a = await usage(gw, '', 'key-a');
    assert.equal(a.json.total_requests, 2);
    assert.equal(a.json.prompt_tokens, 20);
    const b = await usage(gw, '?group_by=key', 'key-b');
    assert.equal(b.json.total_requests, 1);
    assert.deepEqual(b.json.buckets.map((x) => x.key), ['key2']);
    const rawA = await request(gw, '/v1/usage/raw', { headers: bearer('key-a') });
    assert.deepEqual(rawA.json.events.map((e) => e.key), ['key1', 'key1']);
    const admin = await usage(gw, '?group_by=key', 'key-admin');
    assert.equal(admin.json.total_requests, 3);
    assert.deepEqual(admin.json.buckets.map((x) => x.requests).sort(), [1, 2]);
    const none = await usage(gw);
    assert.equal(none.status, 401, 'the usage routes need a key');
  });
});

describe('usage ledger file', { timeout: 60000 }, () => {
  it('keeps its rows across a restart', async () => {
    const state = tempDir('cg-usage-');
    try {
      const env = { PROXY_STATE_DIR: state.dir, HOME: state.dir };
      let gw = await startGateway({ env, waitReady: true });
      assert.equal((await chat(gw, user('fake:usage=5,0,2'))).status, 200);
      await rawRows(gw, 1);
      await stopClean(assert, gw);
      gw = await startGateway({ env, waitReady: true });
      const r = await usage(gw);
      assert.equal(r.json.total_requests, 1);
      assert.equal(r.json.prompt_tokens, 5);
      await stopClean(assert, gw);
    } finally {
      state.remove();
    }
  });

  it('PROXY_USAGE_LEDGER=false records nothing and /v1/usage says why', async () => {
    const state = tempDir('cg-usage-');
    const env = { PROXY_STATE_DIR: state.dir, HOME: state.dir };
    let gw;
    try {
      gw = await startGateway({ env: { ...env, PROXY_USAGE_LEDGER: 'false' }, waitReady: true });
      assert.equal((await chat(gw, user('fake:usage=5,0,2'))).status, 200);
      for (const p of ['/v1/usage', '/v1/usage/raw']) {
        const r = await request(gw, p);
        assert.equal(r.status, 404, p);
        assertOpenAIError(assert, r.json, { code: 'unknown_url' });
        assert.match(r.json.error.message, /PROXY_USAGE_LEDGER=false/);
      }
      await stopClean(assert, gw);
      gw = undefined;
      gw = await startGateway({ env, waitReady: true });
      assert.equal((await usage(gw)).json.total_requests, 0, 'the request left no row');
    } finally {
      if (gw) await stopClean(assert, gw);
      state.remove();
    }
  });

  it('a ledger that cannot be written after the start loses rows, not requests', async () => {
    const state = tempDir('cg-usage-');
    try {
      const gw = await startGateway({ env: { PROXY_STATE_DIR: state.dir, HOME: state.dir }, waitReady: true });
      const lock = await lockDatabase(path.join(state.dir, 'gateway.db'));
      let released = false;
      try {
        for (const body of [user('hi'), user('hi', { stream: true })]) {
          const r = await chat(gw, body);
          assert.equal(r.status, 200, r.text);
        }
        await gw.waitForLog((l) => /usage ledger: \d+ row\(s\) lost/.test(l.msg || ''), 30000);
        await lock.release();
        released = true;
      } finally {
        if (!released) await lock.release();
      }
      const r = await chat(gw, user('fake:usage=3,0,1'));
      assert.equal(r.status, 200);
      const rows = await rawRows(gw, 1);
      assert.ok(rows.some((e) => e.request_id === r.headers.get('x-request-id')), 'written again once the lock is gone');
      await stopClean(assert, gw);
    } finally {
      state.remove();
    }
  });
});
