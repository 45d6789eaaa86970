/**
 * Accounts and the access keys that sign HTTP API requests. A key belongs to one account; a root
 * key (the one created at first start) may also act for other accounts (`x-thicket-account`).
 *
 * Every signed request reads a key and most read an account, and both change rarely: they are
 * kept in memory, read from the database at start and written through on change.
 */
import { newAccessKey, type AccessKey } from '../credentials.js';
import { isUniqueViolation, type SqlEngine } from '../store/sql/engine.js';
import type { StoreMigration } from '../store/sql/migrations.js';
import { DEFAULT_ACCOUNT_ID } from './namespace.js';
import type { SessionCredentials } from './session-credentials.js';

export interface Account {
  accountId: string;
  name: string;
  createdAt: number;
}

export interface StoredAccessKey extends AccessKey {
  accountId: string;
  /** May act for every account. */
  root: boolean;
  /** Read-only keys may only call operations that change nothing. */
  readOnly: boolean;
  description: string;
  createdAt: number;
}

interface AccountRow {
  account_id: string;
  name: string;
  created_at: number;
}

interface KeyRow {
  access_key_id: string;
  secret_access_key: string;
  account_id: string;
  root: number;
  read_only: number;
  description: string;
  created_at: number;
}

export const accountMigrations: Record<string, StoreMigration> = {
  // IF NOT EXISTS: databases made before migrations already have these tables.
  '0001_accounts_and_keys': {
    async up(db) {
      await db.schema
        .createTable('accounts')
        .ifNotExists()
        .addColumn('account_id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('access_keys')
        .ifNotExists()
        .addColumn('access_key_id', 'text', (c) => c.primaryKey())
        .addColumn('secret_access_key', 'text', (c) => c.notNull())
        .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.account_id').onDelete('cascade'))
        .addColumn('root', 'integer', (c) => c.notNull())
        .addColumn('read_only', 'integer', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
};

function keyFromRow(r: KeyRow): StoredAccessKey {
  return {
    accessKeyId: r.access_key_id,
    secretAccessKey: r.secret_access_key,
    accountId: r.account_id,
    root: r.root === 1,
    readOnly: r.read_only === 1,
    description: r.description,
    createdAt: r.created_at,
  };
}

export class AccountStore {
  private keys = new Map<string, StoredAccessKey>();
  private accountsById = new Map<string, Account>();
  /** Temporary credentials (the credentials provider's); requests signed with them act as a role. */
  sessions: SessionCredentials | undefined;

  private constructor(private readonly sql: SqlEngine) {}

  /** The store with what the database holds loaded. */
  static async open(engine: SqlEngine): Promise<AccountStore> {
    const store = new AccountStore(engine);
    await store.reload();
    return store;
  }

  /** Reads accounts and keys again (another node changed them). */
  async reload(): Promise<void> {
    const { db } = this.sql;
    const [accounts, keys] = await Promise.all([
      this.sql.all<AccountRow>(db.selectFrom('accounts').selectAll()),
      this.sql.all<KeyRow>(db.selectFrom('access_keys').selectAll()),
    ]);
    this.accountsById = new Map(accounts.map((r) => [r.account_id, { accountId: r.account_id, name: r.name, createdAt: r.created_at }]));
    this.keys = new Map(keys.map((r) => [r.access_key_id, keyFromRow(r)]));
  }

  /** Creates the default account and registers the admin key from the credentials file (first start). */
  async ensureDefault(admin: AccessKey, accountId = DEFAULT_ACCOUNT_ID): Promise<void> {
    // Every start after the first finds both in what open() loaded: nothing to write.
    if (this.accountsById.has(accountId) && this.keys.has(admin.accessKeyId)) return;
    const { db } = this.sql;
    const now = Date.now();
    // Several nodes may start at once on one database: whoever inserts first wins, the others keep it.
    await this.sql.batch([
      db
        .insertInto('accounts')
        .values({ account_id: accountId, name: 'default', created_at: now })
        .onConflict((c) => c.doNothing()),
      db
        .insertInto('access_keys')
        .values(
          keyRow({ ...admin, accountId, root: true, readOnly: false, description: 'admin key created at first start', createdAt: now }),
        )
        .onConflict((c) => c.doNothing()),
    ]);
    await this.reload();
  }

  account(accountId: string): Account | undefined {
    return this.accountsById.get(accountId);
  }

  accounts(): Account[] {
    return [...this.accountsById.values()].sort((a, b) => (a.accountId < b.accountId ? -1 : a.accountId > b.accountId ? 1 : 0));
  }

  /** Creates an account with its first key (the secret is returned once); undefined when the id is taken. */
  async createAccount(
    accountId: string,
    name: string,
    keyDescription: string,
  ): Promise<{ account: Account; key: StoredAccessKey } | undefined> {
    const { db } = this.sql;
    const account: Account = { accountId, name, createdAt: Date.now() };
    const key = newKey(accountId, { description: keyDescription });
    try {
      await this.sql.batch([
        db.insertInto('accounts').values({ account_id: accountId, name, created_at: account.createdAt }),
        db.insertInto('access_keys').values(keyRow(key)),
      ]);
    } catch (err) {
      if (isUniqueViolation(err)) return undefined;
      throw err;
    }
    this.accountsById.set(accountId, account);
    this.keys.set(key.accessKeyId, key);
    return { account, key };
  }

  /** Creates a key for an account; the secret is returned once and kept only here. */
  async createKey(accountId: string, opts: { root?: boolean; readOnly?: boolean; description?: string } = {}): Promise<StoredAccessKey> {
    const key = newKey(accountId, opts);
    await this.sql.run(this.sql.db.insertInto('access_keys').values(keyRow(key)));
    this.keys.set(key.accessKeyId, key);
    return key;
  }

  async deleteKey(accessKeyId: string): Promise<boolean> {
    const { changes } = await this.sql.run(this.sql.db.deleteFrom('access_keys').where('access_key_id', '=', accessKeyId));
    this.keys.delete(accessKeyId);
    return changes > 0;
  }

  key(accessKeyId: string): StoredAccessKey | undefined {
    return this.keys.get(accessKeyId);
  }

  keysOf(accountId: string): StoredAccessKey[] {
    return [...this.keys.values()].filter((k) => k.accountId === accountId);
  }
}

function newKey(accountId: string, opts: { root?: boolean; readOnly?: boolean; description?: string }): StoredAccessKey {
  return {
    ...newAccessKey(),
    accountId,
    root: opts.root ?? false,
    readOnly: opts.readOnly ?? false,
    description: opts.description ?? '',
    createdAt: Date.now(),
  };
}

function keyRow(k: StoredAccessKey): KeyRow {
  return {
    access_key_id: k.accessKeyId,
    secret_access_key: k.secretAccessKey,
    account_id: k.accountId,
    root: k.root ? 1 : 0,
    read_only: k.readOnly ? 1 : 0,
    description: k.description,
    created_at: k.createdAt,
  };
}
