// HTTP/1.1 framing, limits and timeouts, checked over raw sockets against the real binary.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  assertOpenAIError,
  continueExchange,
  parseResponses,
  rawExchange,
  request,
  sleep,
  startGateway,
  stopClean,
  waitFor,
} from '../lib/gateway.mjs';

const GET = (path, extra = '') => `GET ${path} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;

describe('http framing and limits', { timeout: 60000 }, () => {
  let gw;
  before(async () => {
    gw = await startGateway({
      env: {
        PROXY_MAX_BODY_BYTES: '2048',
        PROXY_MAX_URL_BYTES: '512',
        PROXY_MAX_HEADER_BYTES: '4096',
        PROXY_MAX_HEADERS: '20',
        PROXY_HEADER_TIMEOUT_MS: '400',
        PROXY_KEEPALIVE_TIMEOUT_MS: '60000',
      },
    });
  });
  after(async () => {
    await stopClean(assert, gw);
  });

  it('reuses one connection for sequential requests (keep-alive)', async () => {
    const sock = net.connect(gw.port, '127.0.0.1');
    await new Promise((r) => sock.on('connect', r));
    let buf = '';
    sock.on('data', (d) => (buf += d.toString()));
    for (let i = 0; i < 3; i++) {
      sock.write(GET('/livez', `X-Request-Id: seq-${i}\r\n`));
      while (parseResponses(Buffer.from(buf)).length < i + 1) await sleep(10);
    }
    const rs = parseResponses(Buffer.from(buf));
    assert.equal(rs.length, 3);
    rs.forEach((r, i) => {
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-request-id'], `seq-${i}`);
      assert.equal(r.headers.connection, undefined);
    });
    assert.equal(sock.destroyed, false);
    sock.destroy();
  });

  it('answers pipelined requests in order', async () => {
    const { data } = await rawExchange(
      gw.port,
      [GET('/livez', 'X-Request-Id: p1\r\n') + GET('/v1/models', 'X-Request-Id: p2\r\n') +
        GET('/nope', 'X-Request-Id: p3\r\n') + GET('/readyz', 'X-Request-Id: p4\r\nConnection: close\r\n')],
      { untilMs: 5000 },
    );
    const rs = parseResponses(data);
    assert.deepEqual(rs.map((r) => r.headers['x-request-id']), ['p1', 'p2', 'p3', 'p4']);
    assert.deepEqual(rs.map((r) => r.status).slice(0, 3), [200, 200, 404]);
    assert.ok([200, 503].includes(rs[3].status));
    assert.equal(rs[3].headers.connection, 'close');
  });

  it('reads chunked request bodies and answers HEAD without a body', async () => {
    const body = '{"a":1}';
    const chunked = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
      `Transfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
    const { data } = await rawExchange(gw.port, [chunked + `HEAD /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`]);
    const text = data.toString();
    assert.match(text, /^HTTP\/1\.1 400 /); // the body was read: the request was judged on it
    const headPart = text.slice(text.indexOf('HTTP/1.1 200'));
    assert.match(headPart, /Content-Length: (\d+)/);
    const len = Number(/Content-Length: (\d+)/.exec(headPart)[1]);
    const models = await request(gw, '/v1/models');
    assert.equal(len, Buffer.byteLength(models.text));
    assert.ok(headPart.endsWith('\r\n\r\n'), 'HEAD response must carry no body');
  });

  it('sends 100 Continue before reading a body that asked for it', async () => {
    const { interim } = await continueExchange(
      gw.port,
      'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
        'Content-Length: 5\r\nExpect: 100-continue\r\n\r\n',
      'hello',
      (t) => /HTTP\/1\.1 400/.test(t),
    );
    assert.match(interim, /^HTTP\/1\.1 100 Continue\r\n\r\n$/);
  });

  it('rejects a too-long URL with 414', async () => {
    const { data, closed } = await rawExchange(gw.port, [GET('/' + 'a'.repeat(600))]);
    const [r] = parseResponses(data);
    assert.equal(r.status, 414);
    assertOpenAIError(assert, JSON.parse(r.body), { code: 'uri_too_long' });
    assert.equal(closed, true);
  });

  it('rejects oversized headers and too many headers with 431', async () => {
    const big = await rawExchange(gw.port, [GET('/livez', `X-Big: ${'b'.repeat(5000)}\r\n`)]);
    assert.equal(parseResponses(big.data)[0].status, 431);
    let many = '';
    for (let i = 0; i < 30; i++) many += `X-H${i}: v\r\n`;
    const lots = await rawExchange(gw.port, [GET('/livez', many)]);
    const [r] = parseResponses(lots.data);
    assert.equal(r.status, 431);
    assertOpenAIError(assert, JSON.parse(r.body), { code: 'headers_too_large' });
  });

  it('rejects a body over PROXY_MAX_BODY_BYTES with 413, by length or by chunks', async () => {
    const byLength = await rawExchange(gw.port, [
      `POST /v1/models HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n`,
    ]);
    const [a] = parseResponses(byLength.data);
    assert.equal(a.status, 413);
    assertOpenAIError(assert, JSON.parse(a.body), { code: 'request_too_large' });
    const chunk = 'x'.repeat(1000);
    let chunked = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`;
    for (let i = 0; i < 3; i++) chunked += `3e8\r\n${chunk}\r\n`;
    const byChunks = await rawExchange(gw.port, [chunked]);
    assert.equal(parseResponses(byChunks.data)[0].status, 413);
    assert.equal(byChunks.closed, true);
  });

  it('answers malformed requests with 400 and closes', async () => {
    const cases = [
      'GARBAGE\r\n\r\n',
      'GET / HTTP/1.1\r\nHost : x\r\n\r\n',
      'POST /v1/models HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
      'POST /v1/models HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
      'GET / HTTP/1.1\r\nBad\u0001Header: x\r\n\r\n',
    ];
    for (const c of cases) {
      const { data, closed } = await rawExchange(gw.port, [c]);
      const rs = parseResponses(data);
      assert.equal(rs.length, 1, `one response for ${JSON.stringify(c)}`);
      assert.equal(rs[0].status, 400, `status for ${JSON.stringify(c)}`);
      assertOpenAIError(assert, JSON.parse(rs[0].body), { code: 'bad_request' });
      assert.equal(closed, true, `closed after ${JSON.stringify(c)}`);
    }
  });

  // RFC 9112 framing that llhttp 8.1 accepts: each is a way to hide a second request inside the
  // first. Every one must be refused in the client's version and the connection closed, so the
  // request hidden behind it is never answered.
  const SMUGGLED = GET('/livez', 'X-Request-Id: smuggled\r\n');
  const POST = 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n';
  const smuggling = [
    ['bytes other than CRLF after chunk data', `${POST}Transfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n`, 400],
    ['a folded Transfer-Encoding', `${POST}Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n`, 400],
    ['a folded Content-Length', `${POST}Content-Length:\r\n 2\r\n\r\n{}`, 400],
    ['an empty Transfer-Encoding next to Content-Length', `${POST}Transfer-Encoding: \r\nContent-Length: 2\r\n\r\n{}`, 400],
    ['Transfer-Encoding: gzip, chunked', `${POST}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`, 501],
    ['an HTTP/2.0 request line', 'GET /livez HTTP/2.0\r\nHost: x\r\n\r\n', 505],
    ['no Host on HTTP/1.1', 'GET /livez HTTP/1.1\r\n\r\n', 400],
    ['two Host fields', 'GET /livez HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400],
    ['an unbounded chunk extension', `${POST}Transfer-Encoding: chunked\r\n\r\n1;x=${'v'.repeat(3000)}\r\n{\r\n0\r\n\r\n`, 413],
  ];
  for (const [what, req, status] of smuggling) {
    it(`refuses ${what} with ${status} and serves nothing behind it`, async () => {
      const { data, closed } = await rawExchange(gw.port, [req + SMUGGLED]);
      const rs = parseResponses(data);
      assert.equal(rs.length, 1, `one response, got ${JSON.stringify(data.toString())}`);
      assert.equal(rs[0].status, status);
      assert.equal(rs[0].version, '1.1', 'answered in the version the client spoke');
      assert.equal(rs[0].headers.connection, 'close');
      assert.notEqual(rs[0].headers['x-request-id'], 'smuggled');
      JSON.parse(rs[0].body);
      assert.equal(closed, true);
    });
  }

  it('ignores trailer fields (they never become headers)', async () => {
    // A Content-Type only in the trailer, which would be a 415 as a header: the request is
    // judged on its headers alone (no Content-Type is taken as JSON), so the body is read.
    const req = 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n' +
      'Connection: close\r\n\r\n2\r\n{}\r\n0\r\nContent-Type: text/plain\r\n\r\n';
    const { data } = await rawExchange(gw.port, [req]);
    const [r] = parseResponses(data);
    assert.equal(r.status, 400);
    assert.notEqual(JSON.parse(r.body).error.code, 'unsupported_media_type');
  });

  it('survives a client that resets while 3,000 pipelined answers are written', async () => {
    for (let round = 0; round < 3; round++) {
      const sock = net.connect(gw.port, '127.0.0.1');
      sock.on('error', () => {});
      await new Promise((r) => sock.on('connect', r));
      sock.pause();
      await new Promise((r) => sock.write(GET('/livez').repeat(3000), r));
      sock.resetAndDestroy();
    }
    await sleep(200);
    assert.equal((await request(gw, '/livez')).status, 200);
  });

  it('times out a slow request head with 408 and closes (slowloris)', async () => {
    const { data, closed } = await rawExchange(
      gw.port,
      ['GET /livez HTTP/1.1\r\n', 100, 'Host: x\r\n', 100, 'X-Slow: 1\r\n'],
      { untilMs: 10000 },
    );
    const [r] = parseResponses(data);
    assert.equal(r.status, 408);
    assertOpenAIError(assert, JSON.parse(r.body), { code: 'request_timeout' });
    assert.equal(closed, true);
  });

  it('times out a body that stops arriving', async () => {
    const { data, closed } = await rawExchange(
      gw.port,
      ['POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n', 'partial'],
      { untilMs: 10000 },
    );
    assert.equal(parseResponses(data)[0].status, 408);
    assert.equal(closed, true);
  });

  it('echoes a well-formed X-Request-Id and replaces a bad one', async () => {
    const good = await request(gw, '/livez', { headers: { 'X-Request-Id': 'abc.DEF_123:4-5' } });
    assert.equal(good.headers.get('x-request-id'), 'abc.DEF_123:4-5');
    for (const bad of ['has space', 'x'.repeat(129), 'semi;colon']) {
      const r = await request(gw, '/livez', { headers: { 'X-Request-Id': bad } });
      const id = r.headers.get('x-request-id');
      assert.notEqual(id, bad);
      assert.match(id, /^req_[A-Za-z0-9]{24}$/);
    }
    const none = await request(gw, '/livez');
    assert.match(none.headers.get('x-request-id'), /^req_[A-Za-z0-9]{24}$/);
  });

  it('answers unknown paths with 404 and wrong methods with 405 + Allow, as JSON', async () => {
    const nf = await request(gw, '/v1/nothing-here');
    assert.equal(nf.status, 404);
    assert.match(nf.headers.get('content-type'), /^application\/json/);
    assertOpenAIError(assert, nf.json, { code: 'unknown_url', type: 'invalid_request_error' });
    const na = await request(gw, '/v1/models', { method: 'DELETE' });
    assert.equal(na.status, 405);
    assert.equal(na.headers.get('allow'), 'GET, HEAD, OPTIONS');
    assertOpenAIError(assert, na.json, { code: 'method_not_allowed' });
  });

  it('logs one access line per request, without secrets', async () => {
    await request(gw, '/livez', { headers: { 'X-Request-Id': 'log-check-1', Authorization: 'Bearer sk-secret-value' } });
    const line = await gw.waitForLog((l) => l.event === 'access' && l.req_id === 'log-check-1');
    assert.equal(line.method, 'GET');
    assert.equal(line.path, '/livez');
    assert.equal(line.status, 200);
    assert.equal(typeof line.ms, 'number');
    assert.equal(typeof line.bytes, 'number');
    assert.equal(line.peer, '127.0.0.1');
    assert.ok(!gw.raw.join('\n').includes('sk-secret-value'));
  });
});

describe('connection lifecycle', { timeout: 60000 }, () => {
  it('closes idle keep-alive connections after PROXY_KEEPALIVE_TIMEOUT_MS', async () => {
    const gw = await startGateway({ env: { PROXY_KEEPALIVE_TIMEOUT_MS: '200' } });
    try {
      const { data, closed } = await rawExchange(gw.port, [GET('/livez')], { untilMs: 10000 });
      assert.equal(parseResponses(data)[0].status, 200);
      assert.equal(closed, true, 'server closes the idle connection');
    } finally {
      await stopClean(assert, gw);
    }
  });

  it('a body that trickles in a byte at a time gets 408 at PROXY_BODY_TIMEOUT_MS, however steady', async () => {
    const gw = await startGateway({ env: { PROXY_HEADER_TIMEOUT_MS: '400', PROXY_BODY_TIMEOUT_MS: '1500' } });
    try {
      const sock = net.connect(gw.port, '127.0.0.1');
      await new Promise((r) => sock.once('connect', r));
      let data = '';
      sock.on('data', (d) => { data += d; });
      const closed = new Promise((r) => sock.once('close', r));
      sock.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
        'Content-Length: 100000\r\n\r\n');
      // One byte every 100 ms: never a pause near the 400 ms gap limit. Bounded: 300 bytes.
      let sent = 0;
      const drip = setInterval(() => {
        if (sock.destroyed || sent >= 300) return clearInterval(drip);
        sock.write('x');
        sent++;
      }, 100);
      await closed;
      clearInterval(drip);
      assert.equal(parseResponses(data)[0].status, 408, data.slice(0, 200));
      assert.ok(sent < 300, `cut off while still sending (${sent} bytes sent)`);
    } finally {
      await stopClean(assert, gw);
    }
  });

  it('turns away connections over PROXY_MAX_CONNECTIONS with 503 and serves again after', async () => {
    const gw = await startGateway({ env: { PROXY_MAX_CONNECTIONS: '2', PROXY_HEADER_TIMEOUT_MS: '30000' } });
    try {
      const held = [];
      for (let i = 0; i < 2; i++) {
        const s = net.connect(gw.port, '127.0.0.1');
        s.on('error', () => {});
        await new Promise((r) => s.on('connect', r));
        s.write('GET /livez HTTP/1.1\r\n'); // a request in progress keeps the slot busy
        held.push(s);
      }
      await sleep(100);
      const { data, closed } = await rawExchange(gw.port, [], { untilMs: 10000 });
      const [r] = parseResponses(data);
      assert.equal(r.status, 503);
      assertOpenAIError(assert, JSON.parse(r.body), { code: 'server_overloaded' });
      assert.equal(closed, true);
      held.forEach((s) => s.destroy());
      let ok = null;
      for (let i = 0; i < 100 && !ok; i++) {
        await sleep(50);
        const res = await request(gw, '/livez').catch(() => null);
        if (res && res.status === 200) ok = res;
      }
      assert.ok(ok, 'a slot frees up once the held connections close');
    } finally {
      await stopClean(assert, gw);
    }
  });

  it('on SIGTERM stops accepting, finishes the response in flight, and exits 0', async () => {
    const gw = await startGateway({ env: { PROXY_SHUTDOWN_GRACE_MS: '20000' } });
    // A client that does not read: thousands of pipelined requests queue megabytes of
    // responses, so a response is still being written when the signal arrives.
    const sock = net.connect(gw.port, '127.0.0.1');
    await new Promise((r) => sock.on('connect', r));
    sock.pause();
    sock.write(GET('/v1/models').repeat(6000));
    await sleep(500);
    gw.proc.kill('SIGTERM');
    await gw.waitForLog((l) => /stopping/.test(l.msg || ''));
    const refused = await new Promise((resolve) => {
      const s = net.connect(gw.port, '127.0.0.1');
      s.on('error', () => resolve(true));
      s.on('connect', () => {
        s.destroy();
        resolve(false);
      });
    });
    assert.equal(refused, true, 'new connections are refused after SIGTERM');
    const chunks = [];
    sock.on('data', (d) => chunks.push(d));
    const closed = new Promise((r) => sock.on('close', r));
    sock.resume();
    await closed;
    const rs = parseResponses(Buffer.concat(chunks));
    assert.ok(rs.length > 0, 'responses already queued are delivered');
    for (const r of rs) {
      assert.equal(r.status, 200);
      assert.equal(JSON.parse(r.body).object, 'list');
    }
    // The one SIGTERM is still being acted on: a second one sent now would race the exit.
    await gw.exited;
    await stopClean(assert, gw);
  });
});

describe('client buffer budget', { timeout: 60000 }, () => {
  it('refuses a body with 503 once PROXY_CLIENT_BUFFER_MAX_BYTES are held, and serves again after', async () => {
    const gw = await startGateway({
      env: { PROXY_CLIENT_BUFFER_MAX_BYTES: '1048576', PROXY_HEADER_TIMEOUT_MS: '30000' },
      waitReady: true,
    });
    try {
      // A body still arriving is held: 800 kB of a 900 kB one, then the client pauses.
      const first = net.connect(gw.port, '127.0.0.1');
      first.on('error', () => {});
      await new Promise((r) => first.on('connect', r));
      first.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
        `Content-Length: 900000\r\n\r\n${'p'.repeat(800000)}`);
      // A probe the gateway accepts stays open (keep-alive): it gives up after 2 s, so that the
      // wait below can try again while the held body is still arriving.
      const post = (extra = '') => rawExchange(gw.port, [
        'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
          `Content-Length: 400000\r\n${extra}\r\n${'y'.repeat(400000)}`,
      ], { untilMs: 2000 });
      let refused = null;
      await waitFor(async () => {
        const second = await post();
        const [r] = parseResponses(second.data);
        if (r && r.status === 503) refused = { r, closed: second.closed };
        return refused !== null;
      }, 10000, 'the held body to fill the budget');
      assertOpenAIError(assert, JSON.parse(refused.r.body), { code: 'server_overloaded' });
      assert.equal(refused.closed, true);
      await gw.waitForLog((l) => l.level === 'warn' && /PROXY_CLIENT_BUFFER_MAX_BYTES/.test(l.msg || ''));
      const closed = new Promise((res) => first.on('close', res));
      first.destroy();
      await closed;
      await waitFor(async () => {
        const [again] = parseResponses((await post('Connection: close\r\n')).data);
        return again && again.status === 400;
      }, 10000, 'the budget to free up once the held body is gone');
    } finally {
      await stopClean(assert, gw);
    }
  });

  it('gives a body back to the budget once it is parsed, not when its stream ends', async () => {
    const gw = await startGateway({ env: { PROXY_CLIENT_BUFFER_MAX_BYTES: '1048576' }, waitReady: true });
    try {
      // A slow stream whose 800 kB request was parsed long ago holds no body bytes.
      const body = JSON.stringify({
        model: 'codex-5',
        stream: true,
        messages: [{ role: 'user', content: `fake:slow=100,50 ${'p'.repeat(800000)}` }],
      });
      const first = net.connect(gw.port, '127.0.0.1');
      first.on('error', () => {});
      let firstText = '';
      first.on('data', (d) => (firstText += d.toString()));
      await new Promise((r) => first.on('connect', r));
      first.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      while (!/^HTTP\/1\.1 200 /.test(firstText)) await sleep(10);
      const second = await rawExchange(gw.port, [
        'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
          `Content-Length: 400000\r\nConnection: close\r\n\r\n${'y'.repeat(400000)}`,
      ], { untilMs: 10000 });
      assert.equal(parseResponses(second.data)[0].status, 400, 'read and parsed, not refused');
      first.destroy();
    } finally {
      await stopClean(assert, gw);
    }
  });
});
