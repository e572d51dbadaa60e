// requests.mjs URL PATH COUNT [BODY]: waits until URL/readyz answers 200, then sends COUNT
// requests one after another on one keep-alive connection (POST with BODY when given, else
// GET) and fails on any status but 200. Used by bench/instructions.
import http from 'node:http';

const [url, path, countArg, body] = process.argv.slice(2);
const count = Number(countArg);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function send(p, payload) {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(p, url), {
      agent,
      method: payload ? 'POST' : 'GET',
      headers: payload ? { 'content-type': 'application/json' } : {},
    }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end(payload || undefined);
  });
}

const until = Date.now() + 120000;
for (;;) {
  const status = await send('/readyz').catch(() => 0);
  if (status === 200) break;
  if (Date.now() > until) throw new Error('gateway never got ready');
  await new Promise((r) => setTimeout(r, 100));
}
for (let i = 0; i < count; i++) {
  const status = await send(path, body);
  if (status !== 200) throw new Error(`request ${i}: status ${status}`);
}
agent.destroy();
