// The response store's file, PROXY_STATE_DIR/gateway.db: a file the gateway cannot use stops
// the start with one line naming it; a good one is created at start and survives a restart.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fakeCodexBin, gatewayBin, startGateway, stopClean, tempDir } from '../lib/gateway.mjs';

const EXIT_CONFIG = 2;

/** Runs `codex-gateway serve` with its state in `stateDir` to its exit; {code, stdout, stderr}. */
function serve(stateDir) {
  return new Promise((resolve) => {
    execFile(gatewayBin, [], {
      env: {
        PATH: process.env.PATH,
        HOME: stateDir,
        PROXY_STATE_DIR: stateDir,
        CODEX_BIN: fakeCodexBin,
        PORT: '0',
        ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0',
      },
      timeout: 20000,
    }, (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }));
  });
}

/** The start fails with the config exit code and exactly one stderr line matching `re`. */
async function assertStartFails(stateDir, re) {
  const r = await serve(stateDir);
  assert.equal(r.code, EXIT_CONFIG, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], re);
  assert.equal(r.stdout, '');
}

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A directory that refuses new files even to this process (root ignores modes; sysfs not). */
function unwritableDir(state) {
  const dir = path.join(state.dir, 'ro');
  fs.mkdirSync(dir, { mode: 0o500 });
  try {
    fs.writeFileSync(path.join(dir, 'probe'), '');
  } catch {
    return dir;
  }
  return '/sys/cg-gateway-state';
}

describe('response store file', { timeout: 60000 }, () => {
  it('a gateway.db that is not a database stops the start with one line naming it', async () => {
    const state = tempDir('cg-store-');
    try {
      const db = path.join(state.dir, 'gateway.db');
      fs.writeFileSync(db, 'this is not a SQLite database\n'.repeat(200));
      await assertStartFails(state.dir, new RegExp(`^codex-gateway: ${escape(db)}: file is not a database$`));
    } finally {
      state.remove();
    }
  });

  it('a truncated gateway.db stops the start with one line naming it', async () => {
    const state = tempDir('cg-store-');
    try {
      const db = path.join(state.dir, 'gateway.db');
      // A real database: made by a first start, cut to its first page.
      const gw = await startGateway({ env: { PROXY_STATE_DIR: state.dir, HOME: state.dir }, waitReady: true });
      await stopClean(assert, gw);
      assert.ok(fs.statSync(db).size > 4096);
      fs.truncateSync(db, 4096);
      await assertStartFails(state.dir, new RegExp(`^codex-gateway: ${escape(db)}: `));
    } finally {
      state.remove();
    }
  });

  it('an unwritable state directory stops the start with one line naming it', async () => {
    const state = tempDir('cg-store-');
    try {
      const dir = unwritableDir(state);
      await assertStartFails(dir, new RegExp(`^codex-gateway: .*${escape(dir)}`));
    } finally {
      fs.chmodSync(path.join(state.dir, 'ro'), 0o700);
      state.remove();
    }
  });

  it('a gateway.db that cannot be opened for writing stops the start with one line naming it', async () => {
    const state = tempDir('cg-store-');
    try {
      const db = path.join(state.dir, 'gateway.db');
      fs.mkdirSync(db);
      await assertStartFails(state.dir, new RegExp(`^codex-gateway: ${escape(db)}: `));
    } finally {
      state.remove();
    }
  });

  it('creates gateway.db in PROXY_STATE_DIR and starts again on it', async () => {
    const state = tempDir('cg-store-');
    try {
      for (let round = 0; round < 2; round++) {
        const gw = await startGateway({ env: { PROXY_STATE_DIR: state.dir, HOME: state.dir }, waitReady: true });
        const { stderr } = await stopClean(assert, gw);
        assert.doesNotMatch(stderr, /handles open/, 'the store closes with the loop');
        assert.ok(fs.existsSync(path.join(state.dir, 'gateway.db')));
      }
    } finally {
      state.remove();
    }
  });
});
