/**
 * What every node of a cluster must hold alike: the CA (a device certificate issued on one node
 * verifies on all), the admin access key (the key the first node wrote to its `credentials` file
 * works on every node) and the file-URL secret (a download URL one node signs, another serves).
 *
 * The first node to start puts its values in PostgreSQL (a row each, inserted only if absent, so
 * nodes starting at once agree on one); every node then writes the shared values into its own data
 * directory, where the single-node code reads them as it always has. A data directory that already
 * holds different values belongs to another installation: the node refuses to start rather than
 * serve devices with a second CA.
 *
 * The CA key thus lives in the database too: whoever can read Thicket's database can issue device
 * certificates (README, "Running a cluster").
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { formatCredentialsFile, newAccessKey, parseCredentialsFile } from '../credentials.js';
import { URL_SECRET_FILE } from '../files/url-signing.js';
import { createRootCa } from '../pki/ca.js';
import { readIfExists, writeFileAtomic } from '../pki/files.js';
import { isUniqueViolation, type SqlEngine } from '../store/sql/engine.js';

export const IDENTITY_TABLE = 'thicket_identity';

const PRIVATE = 0o600;
const PUBLIC = 0o644;

interface LocalFile {
  file: string;
  mode: number;
}

/** One shared value: the files that hold it in a data directory, and how a first value is made. */
interface SharedItem {
  name: string;
  files: LocalFile[];
  /** A new value, for the first node of a cluster whose data directory has none. */
  create(): Promise<string[]>;
  /** Whether the file contents on disk and in the database mean the same thing. */
  same(local: string, shared: string): boolean;
}

const trimmed = (a: string, b: string): boolean => a.trim() === b.trim();

const ITEMS: SharedItem[] = [
  {
    name: 'ca',
    // Key first, as ensurePki writes them: a crash in between leaves ca.key alone, which it reports.
    files: [
      { file: 'ca.key', mode: PRIVATE },
      { file: 'ca.pem', mode: PUBLIC },
    ],
    async create() {
      const { caCertPem, caKeyPem } = await createRootCa();
      return [caKeyPem, caCertPem];
    },
    same: trimmed,
  },
  {
    name: 'admin-credentials',
    files: [{ file: 'credentials', mode: PRIVATE }],
    create: async () => [formatCredentialsFile(newAccessKey())],
    same(local, shared) {
      const a = parseCredentialsFile(local);
      const b = parseCredentialsFile(shared);
      return a !== undefined && b !== undefined && a.accessKeyId === b.accessKeyId && a.secretAccessKey === b.secretAccessKey;
    },
  },
  {
    name: 'file-url-secret',
    files: [{ file: URL_SECRET_FILE, mode: PRIVATE }],
    create: async () => [randomBytes(32).toString('hex') + '\n'],
    same: trimmed,
  },
];

async function ensureTable(engine: SqlEngine): Promise<void> {
  try {
    await engine.db.schema
      .createTable(IDENTITY_TABLE)
      .ifNotExists()
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('value', 'text', (c) => c.notNull())
      .execute();
  } catch (err) {
    // Two nodes creating it at the same moment: IF NOT EXISTS is not atomic in PostgreSQL, and the
    // loser hears of the winner's row type as a unique violation (23505), a duplicate object
    // (42710) or a duplicate table (42P07), depending on where the two crossed.
    const code = (err as { code?: unknown } | null)?.code;
    if (!isUniqueViolation(err) && code !== '42710' && code !== '42P07') throw err;
  }
}

async function sharedValue(engine: SqlEngine, name: string): Promise<string[] | undefined> {
  const row = await engine.first<{ value: string }>(engine.db.selectFrom(IDENTITY_TABLE).select('value').where('name', '=', name));
  return row ? (JSON.parse(row.value) as string[]) : undefined;
}

/**
 * Makes `dataDir` hold the cluster's CA, admin key and file-URL secret, putting this node's (or new
 * ones) in the database when the cluster has none yet.
 */
export async function shareIdentity(engine: SqlEngine, dataDir: string): Promise<void> {
  await ensureTable(engine);
  for (const item of ITEMS) {
    const paths = item.files.map((f) => join(dataDir, f.file));
    const local = await Promise.all(paths.map((p) => readIfExists(p)));
    // Half of a CA on disk is for ensurePki to explain; sharing it would spread the damage.
    if (local.some((v) => v === undefined) && local.some((v) => v !== undefined)) continue;
    let shared = await sharedValue(engine, item.name);
    if (shared === undefined) {
      const candidate = local.every((v) => v !== undefined) ? (local as string[]) : await item.create();
      await engine.run(
        engine.db
          .insertInto(IDENTITY_TABLE)
          .values({ name: item.name, value: JSON.stringify(candidate) })
          .onConflict((oc) => oc.column('name').doNothing()),
      );
      shared = (await sharedValue(engine, item.name))!;
    }
    for (let i = 0; i < paths.length; i++) {
      const have = local[i];
      const want = shared[i]!;
      if (have === undefined) await writeFileAtomic(paths[i]!, want, item.files[i]!.mode, 'create');
      else if (!item.same(have, want))
        throw new Error(
          `${paths[i]} differs from the cluster's ${item.name} in the database: this data directory belongs to another ` +
            "installation. Start this node with an empty --data-dir (it then takes the cluster's), or move the file away.",
        );
    }
  }
}
