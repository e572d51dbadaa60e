// deploy/compose.yml, deploy/.env.example and deploy/traefik/dynamic.yml: the stack's file is
// what docker-compose 1.29 accepts, its edge settings agree with the forward-auth role's
// defaults and with the Traefik file-provider config, and the stack comes up for real (on the
// host network, via a test override file): the forward-auth and the gateway answer, every
// container stops with exit 0, and `down` leaves nothing behind. Traefik itself is not
// installable here, so its side is checked as configuration only.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { fakeCodexBin, freePort, gatewayBin, repoRoot, tempDir, waitFor } from '../lib/gateway.mjs';
import { COMPOSE, IMAGE, buildImage, docker, get, must, mustDocker, run, startDocker } from './docker.mjs';

const deployDir = path.join(repoRoot, 'deploy');
const composeFile = path.join(deployDir, 'compose.yml');
const envExample = path.join(deployDir, '.env.example');

/** A YAML file as a plain object (PyYAML: docker-compose's own dependency). */
async function yamlOf(text) {
  const r = await must('python3', ['-c', 'import json,sys,yaml; print(json.dumps(yaml.safe_load(sys.stdin)))'],
    { input: text, env: process.env });
  return JSON.parse(r.stdout);
}

/** `KEY=value` lines of an env file. */
function envOf(file) {
  const out = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/** The gateway's effective settings (check-config), with `env` added. */
async function settingsOf(env) {
  const r = await must(gatewayBin, ['check-config'], { env: { PATH: process.env.PATH, HOME: '/nonexistent', CODEX_BIN: '/bin/true', ...env } });
  return Object.fromEntries(r.stdout.split('\n').map((l) => /^([A-Z_0-9]+)=(\S*)/.exec(l)).filter(Boolean).map((m) => [m[1], m[2]]));
}

const seconds = (d) => {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(String(d));
  assert.ok(m, `duration ${d}`);
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, undefined: 1 }[m[2]];
};

describe('compose and Traefik files', () => {
  let project;
  let config;
  let defaults;
  let configWarnings;

  before(async () => {
    project = tempDir('cg-compose-cfg-');
    fs.copyFileSync(envExample, path.join(project.dir, '.env'));
    // `config` resolves ${...} from the project folder's .env: the example's values.
    const r = await must(COMPOSE, ['--project-directory', project.dir, '-f', composeFile, 'config'], { env: process.env });
    config = await yamlOf(r.stdout);
    configWarnings = r.stderr.split('\n').filter((l) => /WARN/i.test(l));
    defaults = await settingsOf({});
  });
  after(() => project?.remove());

  it('documents in .env.example every variable compose.yml reads', () => {
    const used = new Set([...fs.readFileSync(composeFile, 'utf8').matchAll(/(?<!\$)\$\{([A-Z_][A-Z0-9_]*)/g)].map((m) => m[1]));
    const documented = envOf(envExample);
    assert.deepEqual([...used].filter((v) => !(v in documented)), []);
  });

  it('docker-compose reads compose.yml with .env.example without a warning', () => {
    assert.deepEqual(configWarnings, []);
  });

  it('.env.example holds valid gateway settings', async () => {
    const env = envOf(envExample);
    const s = await settingsOf(env);
    assert.equal(s.PROXY_SHUTDOWN_GRACE_MS, env.PROXY_SHUTDOWN_GRACE_MS);
    assert.equal(s.PROXY_ENABLE_CORS, env.PROXY_ENABLE_CORS);
  });

  it('has the two roles of one image, volumes, healthchecks and a stop grace above the drain', () => {
    const { gateway, 'forward-auth': fa } = config.services;
    assert.deepEqual(gateway.command, ['serve']);
    assert.deepEqual(fa.command, ['forward-auth']);
    assert.equal(gateway.image, fa.image);
    assert.deepEqual(gateway.healthcheck.test, ['CMD', 'codex-gateway', 'probe', '/readyz']);
    assert.deepEqual(fa.healthcheck.test, ['CMD', 'codex-gateway', 'probe', '/livez', '--forward-auth']);
    assert.deepEqual(gateway.volumes.map((v) => (typeof v === 'string' ? v.split(':')[1] : v.target)).sort(), ['/data/codex-home', '/data/state']);
    const env = envOf(envExample);
    for (const svc of [gateway, fa]) {
      assert.equal(svc.read_only, true);
      assert.deepEqual(svc.cap_drop, ['ALL']);
      const drain = Number(env.PROXY_SHUTDOWN_GRACE_MS) + Number(env.WORKER_SHUTDOWN_GRACE_MS);
      assert.ok(seconds(svc.stop_grace_period) * 1000 > drain, `stop_grace_period ${svc.stop_grace_period} <= ${drain} ms`);
    }
  });

  it('Traefik labels: ForwardAuth to the forward-auth role, headers, a connection cap, no CORS or rate limit', () => {
    const labels = config.services.gateway.labels;
    const mw = 'traefik.http.middlewares.';
    // The forward-auth role's own defaults.
    assert.equal(labels[`${mw}codex-gateway-auth.forwardauth.address`],
      `http://forward-auth:${defaults.PROXY_FORWARD_AUTH_PORT}${defaults.PROXY_FORWARD_AUTH_PATH}`);
    assert.equal(labels[`${mw}codex-gateway-auth.forwardauth.authResponseHeaders`], 'X-Auth-User');
    assert.ok(Number(labels[`${mw}codex-gateway-conn.inflightconn.amount`]) > 0);
    assert.equal(labels[`${mw}codex-gateway-headers.headers.contentTypeNosniff`], 'true');
    const kinds = new Set(Object.keys(labels).filter((k) => k.startsWith(mw)).map((k) => k.split('.')[4]));
    assert.deepEqual([...kinds].sort(), ['forwardauth', 'headers', 'inflightconn']);
    const used = labels['traefik.http.routers.codex-gateway.middlewares'].split(',');
    assert.deepEqual(used, ['codex-gateway-auth', 'codex-gateway-headers', 'codex-gateway-conn']);
    assert.equal(labels['traefik.http.services.codex-gateway.loadbalancer.server.port'], defaults.PORT);
  });

  it('the optional Traefik is behind a profile and exposes only what is labelled', () => {
    const { traefik, 'forward-auth': fa } = config.services;
    assert.deepEqual(traefik.profiles, ['traefik']);
    assert.ok(traefik.command.includes('--providers.docker.exposedbydefault=false'));
    assert.equal(fa.labels['traefik.enable'], 'false');
    assert.deepEqual(Object.keys(config.services).filter((n) => !config.services[n].profiles).sort(), ['forward-auth', 'gateway']);
  });

  it('traefik/dynamic.yml matches: same middlewares, forward-auth address and header, gateway port', async () => {
    const dyn = (await yamlOf(fs.readFileSync(path.join(deployDir, 'traefik', 'dynamic.yml'), 'utf8'))).http;
    const router = dyn.routers['codex-gateway'];
    const labels = config.services.gateway.labels;
    assert.deepEqual(router.middlewares, labels['traefik.http.routers.codex-gateway.middlewares'].split(','));
    const fa = dyn.middlewares['codex-gateway-auth'].forwardAuth;
    const url = new URL(fa.address);
    assert.equal(url.hostname, '127.0.0.1');
    assert.equal(url.port, defaults.PROXY_FORWARD_AUTH_PORT);
    assert.equal(url.pathname, defaults.PROXY_FORWARD_AUTH_PATH);
    assert.equal(url.pathname, new URL(labels['traefik.http.middlewares.codex-gateway-auth.forwardauth.address']).pathname);
    assert.deepEqual(fa.authResponseHeaders, [labels['traefik.http.middlewares.codex-gateway-auth.forwardauth.authResponseHeaders']]);
    assert.ok(dyn.middlewares['codex-gateway-conn'].inFlightConn.amount > 0);
    assert.ok(dyn.middlewares['codex-gateway-headers'].headers);
    const kinds = Object.values(dyn.middlewares).flatMap((m) => Object.keys(m)).sort();
    assert.deepEqual(kinds, ['forwardAuth', 'headers', 'inFlightConn']);
    const lb = dyn.services[router.service].loadBalancer;
    assert.equal(new URL(lb.servers[0].url).port, defaults.PORT);
    assert.equal(String(lb.responseForwarding.flushInterval), '-1');
    assert.ok(dyn.serversTransports[lb.serversTransport], 'serversTransport defined');
  });
});

describe('compose stack on a Docker engine', { timeout: 45 * 60000 }, () => {
  let engine;
  let project;
  let name;
  let ports;
  let compose;
  let upAt;

  before(async () => {
    assert.ok(fs.existsSync(fakeCodexBin), `${fakeCodexBin} missing: build the release preset first`);
    engine = await startDocker();
    await buildImage();
    project = tempDir('cg-compose-');
    fs.chmodSync(project.dir, 0o755);
    fs.copyFileSync(envExample, path.join(project.dir, '.env'));
    fs.writeFileSync(path.join(project.dir, 'codex'), '#!/bin/sh\nexec /opt/fake/fake-codex "$@"\n', { mode: 0o755 });
    ports = { gateway: await freePort(), auth: await freePort() };
    // Host networking for the test (no bridge traffic; listeners on loopback only), the test's
    // image, ports and fake Codex.
    const override = {
      services: {
        gateway: {
          image: IMAGE,
          network_mode: 'host',
          environment: { PORT: String(ports.gateway), PROXY_HOST: '127.0.0.1', PROXY_API_KEY: 'sk-compose', CODEX_BIN: '/opt/fake/codex', PROXY_SHUTDOWN_GRACE_MS: '2000' },
          healthcheck: { interval: '1s' },
          volumes: [`${fakeCodexBin}:/opt/fake/fake-codex:ro`, `${path.join(project.dir, 'codex')}:/opt/fake/codex:ro`],
        },
        'forward-auth': {
          image: IMAGE,
          network_mode: 'host',
          environment: { PORT: String(ports.gateway), PROXY_FORWARD_AUTH_PORT: String(ports.auth), PROXY_FORWARD_AUTH_HOST: '127.0.0.1',
            PROXY_API_KEY: 'sk-compose', CODEX_BIN: '/opt/fake/codex' },
          healthcheck: { interval: '1s' },
          volumes: [`${fakeCodexBin}:/opt/fake/fake-codex:ro`, `${path.join(project.dir, 'codex')}:/opt/fake/codex:ro`],
        },
      },
    };
    fs.writeFileSync(path.join(project.dir, 'override.yml'), JSON.stringify(override, null, 2));
    name = `cgtest${process.pid}`;
    const base = ['--project-directory', project.dir, '-p', name, '-f', composeFile, '-f', path.join(project.dir, 'override.yml')];
    compose = (args, timeoutMs = 120000) => run(COMPOSE, [...base, ...args], { timeoutMs });
    upAt = Date.now();
    const up = await compose(['up', '-d', '--no-build']);
    assert.equal(up.code, 0, up.stderr);
  });

  after(async () => {
    if (compose) await compose(['down', '-v', '-t', '10']);
    if (engine) {
      // A failed `down` must not leave the project's containers on the cached engine.
      const left = (await docker(['ps', '-aq', '--filter', `label=com.docker.compose.project=${name}`])).stdout.split('\n').filter(Boolean);
      if (left.length) await docker(['rm', '-f', '-v', ...left]);
      await engine.stop();
    }
    project?.remove();
  });

  const logs = async () => (await compose(['logs', '--no-color'])).stdout.slice(-4000);

  it('the gateway answers /readyz and a chat completion', async (t) => {
    const url = `http://127.0.0.1:${ports.gateway}`;
    await waitFor(async () => (await get(`${url}/readyz`))?.status === 200, 30000, 'gateway /readyz').catch(async (e) => {
      throw new Error(`${e.message}\n${await logs()}`);
    });
    t.diagnostic(`docker-compose up to /readyz 200: ${((Date.now() - upAt) / 1000).toFixed(1)} s`);
    const ps = await mustDocker(['ps', '--format', '{{.Label "com.docker.compose.service"}}', '--filter', `label=com.docker.compose.project=${name}`]);
    assert.deepEqual(ps.stdout.split('\n').filter(Boolean).sort(), ['forward-auth', 'gateway']);
    const client = new OpenAI({ apiKey: 'sk-compose', baseURL: `${url}/v1`, maxRetries: 0 });
    const r = await client.chat.completions.create({ model: 'codex-5', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(r.choices[0].message.content, 'Hello from fake-codex.');
  });

  it('the forward-auth answers 401 without a key and 200 with one', async () => {
    const url = `http://127.0.0.1:${ports.auth}`;
    await waitFor(async () => (await get(`${url}/livez`))?.status === 200, 30000, 'forward-auth /livez').catch(async (e) => {
      throw new Error(`${e.message}\n${await logs()}`);
    });
    const no = await get(`${url}/verify`);
    assert.equal(no.status, 401);
    assert.match(no.headers.get('www-authenticate') || '', /^Bearer/);
    assert.equal(JSON.parse(no.body).error.code, 'invalid_api_key');
    assert.equal((await get(`${url}/verify`, { Authorization: 'Bearer wrong' })).status, 401);
    const yes = await get(`${url}/verify`, { Authorization: 'Bearer sk-compose' });
    assert.equal(yes.status, 200);
    assert.ok(yes.headers.get('x-auth-user'), 'X-Auth-User');
  });

  it('the healthchecks turn healthy', async () => {
    const ids = (await mustDocker(['ps', '-q', '--filter', `label=com.docker.compose.project=${name}`])).stdout.split('\n').filter(Boolean);
    assert.equal(ids.length, 2);
    const health = async () => Promise.all(ids.map(async (id) => (await docker(['inspect', '-f', '{{.State.Health.Status}}', id])).stdout.trim()));
    await waitFor(async () => (await health()).every((h) => h === 'healthy'), 60000, 'healthy containers').catch(async (e) => {
      throw new Error(`${e.message}: ${await health()}\n${await logs()}`);
    });
  });

  it('stop drains every container to exit 0; down leaves no container or volume', async () => {
    const ids = (await mustDocker(['ps', '-aq', '--filter', `label=com.docker.compose.project=${name}`])).stdout.split('\n').filter(Boolean);
    assert.equal(ids.length, 2);
    const stop = await compose(['stop']);
    assert.equal(stop.code, 0, stop.stderr);
    for (const id of ids) assert.equal((await mustDocker(['inspect', '-f', '{{.Name}} {{.State.ExitCode}}', id])).stdout.trim().split(' ')[1], '0', await logs());
    const down = await compose(['down', '-v', '-t', '10']);
    assert.equal(down.code, 0, down.stderr);
    const left = await mustDocker(['ps', '-aq', '--filter', `label=com.docker.compose.project=${name}`]);
    assert.equal(left.stdout.trim(), '');
    const vols = await mustDocker(['volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${name}`]);
    assert.equal(vols.stdout.trim(), '');
  });
});
