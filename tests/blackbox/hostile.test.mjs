// Slow and hostile clients at scale: slowloris heads and streams that stop reading are cut off by
// their timeouts and bounds while a normal client keeps being served.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { chat, procStats, request, slow, startGateway, stopClean, waitFor } from '../lib/gateway.mjs';

const HEADER_TIMEOUT_MS = 500;
const STREAM_QUEUE_MAX_BYTES = 65536;
const SLOWLORIS = 200;
const STALLED_STREAMS = 100;
const STALLED_DELTAS = 100000; // 1 ms apart: about 15 MB of SSE each if it were all sent
const SLACK_MS = 5000; // how late a cut-off may come on a loaded machine

/** A slowloris: a partial request head, then one more byte every 100 ms until the gateway closes. */
function slowloris(port) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    const trickle = 'X-Slow: ' + 'z'.repeat(200);
    let sent = 0;
    let data = '';
    let timer = null;
    let opened = 0;
    sock.on('connect', () => {
      opened = Date.now();
      sock.write('GET /v1/models HTTP/1.1\r\nHost: x\r\n');
      timer = setInterval(() => {
        if (!sock.destroyed && sent < trickle.length) sock.write(trickle[sent++]);
      }, 100);
    });
    sock.on('data', (d) => (data += d.toString('latin1')));
    sock.on('error', () => {});
    sock.on('close', () => {
      clearInterval(timer);
      resolve({ ms: Date.now() - opened, status: data.split('\r\n')[0], bytes: sent });
    });
  });
}

/** A streamed chat whose client stops reading after the first bytes. */
function stalledStream(port) {
  const body = JSON.stringify({
    model: 'codex-5',
    stream: true,
    messages: [{ role: 'user', content: `fake:slow=1,${STALLED_DELTAS}` }],
  });
  const sock = net.connect(port, '127.0.0.1');
  const s = { sock, paused: false, closed: false, text: '' };
  s.firstChunk = new Promise((resolve) => {
    sock.once('data', (d) => {
      s.text += d.toString('latin1');
      sock.pause();
      s.paused = true;
      resolve();
    });
  });
  s.done = new Promise((resolve) => sock.on('close', resolve)).then(() => (s.closed = true));
  sock.on('connect', () =>
    sock.write(
      'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    ),
  );
  sock.on('error', () => {});
  return s;
}

const activeTurns = (h) => h.backend.workers.reduce((n, w) => n + w.active_turns, 0);

describe('slow and hostile clients at scale', { timeout: 90000 * slow }, () => {
  let gw;
  before(async () => {
    gw = await startGateway({
      waitReady: true,
      env: {
        PROXY_LOG_LEVEL: 'warn',
        PROXY_HEADER_TIMEOUT_MS: String(HEADER_TIMEOUT_MS),
        PROXY_STREAM_QUEUE_MAX_BYTES: String(STREAM_QUEUE_MAX_BYTES),
        PROXY_KEEPALIVE_TIMEOUT_MS: '1000',
        PROXY_MAX_CONNECTIONS: '2000',
        WORKER_MAX_CONCURRENCY: '256',
        PROXY_QUEUE_MAX: '1000',
        FAKE_CODEX_THREAD_BYTES: '0',
        // Under ASan the default quarantine alone would dwarf the RSS bound.
        ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0:quarantine_size_mb=4',
      },
    });
  });
  after(async () => {
    await stopClean(assert, gw);
  });

  it(`cuts off ${SLOWLORIS} slowloris heads and ${STALLED_STREAMS} streams that stop reading; a normal client is served throughout`, async (t) => {
    const warm = await chat(gw, { model: 'codex-5', messages: [{ role: 'user', content: 'fake:text' }] });
    assert.equal(warm.status, 200);
    const idle = procStats(gw.pid);
    let rssMax = idle.rss;
    const sampler = setInterval(() => {
      rssMax = Math.max(rssMax, procStats(gw.pid).rss);
    }, 50);

    // The normal client: non-stream chats back to back, each checked, until the hostile phase ends.
    let hostile = true;
    let served = 0;
    let slowest = 0;
    const normal = (async () => {
      while (hostile) {
        const t0 = Date.now();
        const r = await chat(gw, { model: 'codex-5', messages: [{ role: 'user', content: 'fake:text' }] });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.choices[0].message.content, 'Hello from fake-codex.');
        assert.equal(r.json.choices[0].finish_reason, 'stop');
        served++;
        slowest = Math.max(slowest, Date.now() - t0);
      }
    })();

    try {
      const lorises = Array.from({ length: SLOWLORIS }, () => slowloris(gw.port));
      const streams = Array.from({ length: STALLED_STREAMS }, () => stalledStream(gw.port));
      await Promise.all(streams.map((s) => s.firstChunk));

      const cut = await Promise.all(lorises);
      for (const c of cut) {
        assert.ok(c.status === '' || /^HTTP\/1\.1 408 /.test(c.status), `slowloris answered ${c.status}`);
        assert.ok(c.ms >= HEADER_TIMEOUT_MS - 50, `slowloris cut early, after ${c.ms} ms`);
        assert.ok(c.ms <= HEADER_TIMEOUT_MS + SLACK_MS, `slowloris held ${c.ms} ms`);
      }
      assert.ok(cut.filter((c) => c.status !== '').length >= SLOWLORIS / 2, 'most slowloris get a 408');

      // Every stalled stream is cut off while its client still reads nothing: the gateway says so
      // once per stream, interrupts its turn and closes the connection.
      const cutOff = () => gw.logs.filter((l) => /to a client that stopped reading: closing it/.test(l.msg)).length;
      await waitFor(async () => cutOff() >= STALLED_STREAMS, SLACK_MS + 35000, 'stalled streams cut off').catch((e) => {
        throw new Error(`${e.message}: ${cutOff()} of ${STALLED_STREAMS}`);
      });
      assert.equal(cutOff(), STALLED_STREAMS);
      hostile = false;
      await normal;
      assert.ok(served > 0, 'the normal client was served during the hostile phase');
      assert.ok(
        streams.every((s) => s.paused),
        'the stalled clients never read past their first chunk',
      );

      // Reading now gets what the kernel held and then the gateway's close, never the end.
      for (const s of streams) {
        s.sock.on('data', (d) => (s.text += d.toString('latin1')));
        s.sock.resume();
      }
      await Promise.all(streams.map((s) => s.done));
      for (const s of streams) {
        assert.match(s.text, /^HTTP\/1\.1 200 /);
        assert.ok(!s.text.includes('data: [DONE]'), 'a stalled stream was sent to its end');
        assert.ok(s.text.length < 16 * STREAM_QUEUE_MAX_BYTES + 8 * 1024 * 1024, `stream got ${s.text.length} bytes`);
      }
    } finally {
      hostile = false;
      await normal;
      clearInterval(sampler);
    }

    // Afterwards: normal service, no turns left, connections back to about none, RSS bounded.
    const r = await chat(gw, { model: 'codex-5', messages: [{ role: 'user', content: 'fake:text' }] });
    assert.equal(r.json.choices[0].message.content, 'Hello from fake-codex.');
    await waitFor(
      async () => {
        const h = (await request(gw, '/healthz', { headers: { Connection: 'close' } })).json;
        return activeTurns(h) === 0 && h.http.connections <= 1 && h.backend.queue.waiting === 0;
      },
      10000,
      'connections back to ~0',
    );
    const grown = rssMax - idle.rss;
    t.diagnostic(`normal requests ${served}, slowest ${slowest} ms; gateway RSS +${grown} kB at most`);
    assert.ok(grown < 64 * 1024, `gateway RSS grew ${grown} kB under the hostile load`);
  });
});
