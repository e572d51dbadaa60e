// A real Prometheus server (Debian's package) scrapes the gateway in front of a real Codex
// worker: the target is up, the model requests it served are there by route, and a worker
// killed with SIGKILL shows as a restart, all read back through Prometheus's HTTP API.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort, tempDir, waitFor } from '../lib/gateway.mjs';
import { health, startCodexGateway } from './codex.mjs';

async function startPrometheus(targetPort) {
  const dir = tempDir('cg-prom-');
  const port = await freePort();
  const config = path.join(dir.dir, 'prometheus.yml');
  fs.writeFileSync(config, [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 1s',
    'scrape_configs:',
    '  - job_name: gateway',
    '    static_configs:',
    `      - targets: ['127.0.0.1:${targetPort}']`,
    '',
  ].join('\n'));
  const proc = spawn('prometheus', [
    `--config.file=${config}`,
    `--storage.tsdb.path=${path.join(dir.dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr = (stderr + d).slice(-8000); });
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  const base = `http://127.0.0.1:${port}`;
  await waitFor(async () => {
    if (proc.exitCode !== null) throw new Error(`prometheus exited:\n${stderr}`);
    try {
      return (await fetch(`${base}/-/ready`)).ok;
    } catch {
      return false; /* not listening yet */
    }
  }, 20000, 'prometheus ready');
  return {
    base,
    stderr: () => stderr,
    /** The instant vector of `query`: [{metric, value:[ts, "v"]}]. */
    async query(query) {
      const r = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(query)}`);
      const body = await r.json();
      assert.equal(body.status, 'success', JSON.stringify(body));
      return body.data.result;
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
      dir.remove();
    },
  };
}

/** The first sample's value of `query`, or null while there is none. */
async function valueOf(prom, query) {
  const result = await prom.query(query);
  return result.length ? Number(result[0].value[1]) : null;
}

describe('Prometheus scrapes the gateway', { timeout: 120000 }, () => {
  let env;
  let prom;
  before(async () => {
    env = await startCodexGateway({ env: { WORKER_BACKOFF_INITIAL_MS: '100' } });
    prom = await startPrometheus(env.gw.port);
  });
  after(async () => {
    if (prom) await prom.stop();
    if (env) await env.close(assert);
  });

  it('sees the target up, the requests it served, and a worker restart', async () => {
    const { gw, client } = env;
    // Prometheus applies new targets on a tick of a few seconds: allow it 30 s.
    await waitFor(async () => (await valueOf(prom, 'up{job="gateway"}')) === 1, 30000,
      `the gateway target up; prometheus stderr:\n${prom.stderr()}`);

    const r = await client.chat.completions.create({
      model: 'codex-5',
      messages: [{ role: 'user', content: 'Say hello.' }],
    });
    assert.ok(r.choices[0].message.content.length > 0);
    const served = 'sum(codex_gateway_requests_total{job="gateway",route="chat",status_class="2xx"})';
    await waitFor(async () => (await valueOf(prom, served)) >= 1, 30000, 'the chat request scraped');

    const { pid } = (await health(gw)).backend.workers[0];
    const restarts = 'sum(codex_gateway_worker_restarts_total{job="gateway"})';
    const before = (await valueOf(prom, restarts)) ?? 0;
    process.kill(pid, 'SIGKILL');
    await waitFor(async () => {
      const w = (await health(gw)).backend.workers[0];
      return w.state === 'ready' && w.pid !== pid;
    }, 30000, 'the worker restarted');
    await waitFor(async () => (await valueOf(prom, restarts)) === before + 1, 30000,
      'the restart scraped');
    assert.equal(await valueOf(prom, 'sum(codex_gateway_worker_ready{job="gateway"})'), 1);
  });
});
