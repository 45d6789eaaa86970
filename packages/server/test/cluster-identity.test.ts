/**
 * The identity every node of a cluster shares through PostgreSQL: the CA, the admin key and the
 * file-URL secret. Nodes starting at once agree on one of each; a node with an empty data directory
 * takes the cluster's; a data directory from another installation is refused, not merged.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { shareIdentity } from '../src/cluster/shared-identity.js';
import { ensureAdminCredentials } from '../src/credentials.js';
import { ensurePki } from '../src/pki/index.js';
import type { SqlEngine } from '../src/store/sql/engine.js';
import { postgresEngine } from '../src/store/sql/postgres-engine.js';
import { tempDir } from './helpers.js';
import { startPostgres, type Postgres } from './pg-helpers.js';

let pgCluster: Postgres;
const engines: SqlEngine[] = [];
let databases = 0;

before(async () => {
  pgCluster = await startPostgres();
});
after(async () => {
  for (const e of engines) await e.close();
  await pgCluster.stop();
});

async function engineOn(url: string): Promise<SqlEngine> {
  const e = postgresEngine({ connectionString: url, max: 2, log: pino({ level: 'silent' }) });
  engines.push(e);
  return e;
}

const FILES = ['ca.pem', 'ca.key', 'credentials', 'file-urls.key'];
const read = (dir: string): string[] => FILES.map((f) => readFileSync(join(dir, f), 'utf8'));

test('nodes starting at once on an empty database end with one CA, admin key and URL secret', async () => {
  const url = await pgCluster.createDatabase(`identity_${++databases}`);
  const dirs = [tempDir(), tempDir(), tempDir()];
  await Promise.all(dirs.map(async (d) => shareIdentity(await engineOn(url), d)));
  const [first, ...others] = dirs.map(read);
  for (const o of others) assert.deepEqual(o, first);
  // Keys stay private on every node's disk.
  for (const d of dirs) {
    assert.equal(statSync(join(d, 'ca.key')).mode & 0o777, 0o600);
    assert.equal(statSync(join(d, 'credentials')).mode & 0o777, 0o600);
    assert.equal(statSync(join(d, 'file-urls.key')).mode & 0o777, 0o600);
  }
  // What the single-node code then reads is the shared CA and key.
  const pki = await ensurePki(dirs[1]!, { hostnames: ['localhost'] });
  assert.equal(pki.caCertPem, first![0]);
  assert.equal(ensureAdminCredentials(dirs[2]!).created, false);
});

test("the first node's existing CA and key become the cluster's; a later empty node takes them", async () => {
  const url = await pgCluster.createDatabase(`identity_${++databases}`);
  const veteran = tempDir();
  await ensurePki(veteran, { hostnames: ['localhost'] });
  const key = ensureAdminCredentials(veteran).key;
  await shareIdentity(await engineOn(url), veteran);
  const fresh = tempDir();
  await shareIdentity(await engineOn(url), fresh);
  assert.deepEqual(read(fresh), read(veteran));
  assert.deepEqual(ensureAdminCredentials(fresh).key, key);
});

test('a data directory of another installation is refused, and nothing in it is replaced', async () => {
  const url = await pgCluster.createDatabase(`identity_${++databases}`);
  await shareIdentity(await engineOn(url), tempDir());
  const stranger = tempDir();
  await ensurePki(stranger, { hostnames: ['localhost'] });
  const before = readFileSync(join(stranger, 'ca.pem'), 'utf8');
  await assert.rejects(shareIdentity(await engineOn(url), stranger), /ca\.key differs from the cluster's ca in the database/);
  assert.equal(readFileSync(join(stranger, 'ca.pem'), 'utf8'), before);

  const otherKey = tempDir();
  writeFileSync(join(otherKey, 'credentials'), '[default]\naws_access_key_id = TKIAAAAAAAAAAAAAAAAA\naws_secret_access_key = x\n', {
    mode: 0o600,
  });
  await assert.rejects(shareIdentity(await engineOn(url), otherKey), /credentials differs from the cluster's admin-credentials/);
});
