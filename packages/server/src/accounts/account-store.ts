/**
 * Accounts and the access keys that sign HTTP API requests. A key belongs to one account; a root
 * key (the one created at first start) may also act for other accounts (`x-thicket-account`).
 */
import { type Db, prepared } from '../store/database.js';
import { newAccessKey, type AccessKey } from '../credentials.js';
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

const SCHEMA = `
CREATE TABLE IF NOT EXISTS accounts (
  account_id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS access_keys (
  access_key_id TEXT PRIMARY KEY, secret_access_key TEXT NOT NULL,
  account_id TEXT NOT NULL REFERENCES accounts(account_id) ON DELETE CASCADE,
  root INTEGER NOT NULL, read_only INTEGER NOT NULL, description TEXT NOT NULL, created_at INTEGER NOT NULL);
`;

type Row = Record<string, unknown>;

function keyFromRow(r: Row): StoredAccessKey {
  return {
    accessKeyId: r.access_key_id as string,
    secretAccessKey: r.secret_access_key as string,
    accountId: r.account_id as string,
    root: r.root === 1,
    readOnly: r.read_only === 1,
    description: r.description as string,
    createdAt: r.created_at as number,
  };
}

export class AccountStore {
  /** Keys are read on every signed request; they change rarely, so they are kept in memory. */
  private keys = new Map<string, StoredAccessKey>();
  /** Temporary credentials (the credentials provider's); requests signed with them act as a role. */
  sessions: SessionCredentials | undefined;

  constructor(private readonly db: Db) {
    db.exec(SCHEMA);
    for (const r of db.prepare('SELECT * FROM access_keys').all() as Row[]) {
      const k = keyFromRow(r);
      this.keys.set(k.accessKeyId, k);
    }
  }

  /** Creates the default account and registers the admin key from the credentials file (first start, or after a reset). */
  ensureDefault(admin: AccessKey, accountId = DEFAULT_ACCOUNT_ID): void {
    if (!this.account(accountId)) this.createAccount(accountId, 'default');
    if (!this.keys.has(admin.accessKeyId)) {
      this.putKey({
        ...admin,
        accountId,
        root: true,
        readOnly: false,
        description: 'admin key created at first start',
        createdAt: Date.now(),
      });
    }
  }

  account(accountId: string): Account | undefined {
    const r = prepared(this.db, 'SELECT * FROM accounts WHERE account_id = ?').get(accountId) as Row | undefined;
    return r ? { accountId: r.account_id as string, name: r.name as string, createdAt: r.created_at as number } : undefined;
  }

  accounts(): Account[] {
    return (prepared(this.db, 'SELECT * FROM accounts ORDER BY account_id').all() as Row[]).map((r) => ({
      accountId: r.account_id as string,
      name: r.name as string,
      createdAt: r.created_at as number,
    }));
  }

  createAccount(accountId: string, name: string): Account {
    const createdAt = Date.now();
    prepared(this.db, 'INSERT INTO accounts (account_id, name, created_at) VALUES (?, ?, ?)').run(accountId, name, createdAt);
    return { accountId, name, createdAt };
  }

  /** Creates a key for an account; the secret is returned once and kept only here. */
  createKey(accountId: string, opts: { root?: boolean; readOnly?: boolean; description?: string } = {}): StoredAccessKey {
    const key: StoredAccessKey = {
      ...newAccessKey(),
      accountId,
      root: opts.root ?? false,
      readOnly: opts.readOnly ?? false,
      description: opts.description ?? '',
      createdAt: Date.now(),
    };
    this.putKey(key);
    return key;
  }

  deleteKey(accessKeyId: string): boolean {
    const n = prepared(this.db, 'DELETE FROM access_keys WHERE access_key_id = ?').run(accessKeyId).changes;
    this.keys.delete(accessKeyId);
    return n > 0;
  }

  key(accessKeyId: string): StoredAccessKey | undefined {
    return this.keys.get(accessKeyId);
  }

  keysOf(accountId: string): StoredAccessKey[] {
    return [...this.keys.values()].filter((k) => k.accountId === accountId);
  }

  private putKey(k: StoredAccessKey): void {
    prepared(
      this.db,
      'INSERT INTO access_keys (access_key_id, secret_access_key, account_id, root, read_only, description, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ).run(k.accessKeyId, k.secretAccessKey, k.accountId, k.root ? 1 : 0, k.readOnly ? 1 : 0, k.description, k.createdAt);
    this.keys.set(k.accessKeyId, k);
  }
}
