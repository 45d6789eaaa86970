/** SQLite tables of IoT policies, their versions, and what they are attached to. */
import { inTransaction, type Db, prepared } from '../store/database.js';
import type { Namespace } from '../accounts/namespace.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS policies (
  account_id TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, default_version INTEGER NOT NULL,
  next_version INTEGER NOT NULL, created_at INTEGER NOT NULL, last_modified INTEGER NOT NULL,
  generation_id TEXT NOT NULL,
  PRIMARY KEY (account_id, region, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS policy_versions (
  account_id TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL,
  document TEXT NOT NULL, created_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, region, name, version)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS policy_targets (
  account_id TEXT NOT NULL, region TEXT NOT NULL, policy_name TEXT NOT NULL, target TEXT NOT NULL,
  attached_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, region, policy_name, target)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS policy_targets_by_target ON policy_targets (account_id, region, target);
`;

export interface PolicyRow {
  name: string;
  defaultVersion: number;
  nextVersion: number;
  createdAt: number;
  lastModified: number;
  generationId: string;
}

export interface PolicyVersionRow {
  version: number;
  document: string;
  createdAt: number;
}

type Row = Record<string, unknown>;

const policy = (r: Row): PolicyRow => ({
  name: r.name as string,
  defaultVersion: r.default_version as number,
  nextVersion: r.next_version as number,
  createdAt: r.created_at as number,
  lastModified: r.last_modified as number,
  generationId: r.generation_id as string,
});

export class PolicyStore {
  constructor(readonly db: Db) {
    db.exec(SCHEMA);
  }

  /** Removes every policy, version and attachment (test-mode reset). */
  clear(): void {
    this.db.exec('DELETE FROM policies; DELETE FROM policy_versions; DELETE FROM policy_targets;');
  }

  tx<T>(fn: () => T): T {
    return inTransaction(this.db, fn);
  }

  policy(ns: Namespace, name: string): PolicyRow | undefined {
    const r = prepared(this.db, 'SELECT * FROM policies WHERE account_id = ? AND region = ? AND name = ?').get(
      ns.accountId,
      ns.region,
      name,
    ) as Row | undefined;
    return r ? policy(r) : undefined;
  }

  policies(ns: Namespace): PolicyRow[] {
    return (
      prepared(this.db, 'SELECT * FROM policies WHERE account_id = ? AND region = ? ORDER BY name').all(ns.accountId, ns.region) as Row[]
    ).map(policy);
  }

  putPolicy(ns: Namespace, p: PolicyRow): void {
    prepared(
      this.db,
      'INSERT OR REPLACE INTO policies (account_id, region, name, default_version, next_version, created_at, last_modified, generation_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ).run(ns.accountId, ns.region, p.name, p.defaultVersion, p.nextVersion, p.createdAt, p.lastModified, p.generationId);
  }

  deletePolicy(ns: Namespace, name: string): void {
    prepared(this.db, 'DELETE FROM policies WHERE account_id = ? AND region = ? AND name = ?').run(ns.accountId, ns.region, name);
    prepared(this.db, 'DELETE FROM policy_versions WHERE account_id = ? AND region = ? AND name = ?').run(ns.accountId, ns.region, name);
  }

  version(ns: Namespace, name: string, version: number): PolicyVersionRow | undefined {
    const r = prepared(this.db, 'SELECT * FROM policy_versions WHERE account_id = ? AND region = ? AND name = ? AND version = ?').get(
      ns.accountId,
      ns.region,
      name,
      version,
    ) as Row | undefined;
    return r ? { version: r.version as number, document: r.document as string, createdAt: r.created_at as number } : undefined;
  }

  versions(ns: Namespace, name: string): PolicyVersionRow[] {
    return (
      prepared(this.db, 'SELECT * FROM policy_versions WHERE account_id = ? AND region = ? AND name = ? ORDER BY version DESC').all(
        ns.accountId,
        ns.region,
        name,
      ) as Row[]
    ).map((r) => ({ version: r.version as number, document: r.document as string, createdAt: r.created_at as number }));
  }

  putVersion(ns: Namespace, name: string, v: PolicyVersionRow): void {
    prepared(
      this.db,
      'INSERT INTO policy_versions (account_id, region, name, version, document, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    ).run(ns.accountId, ns.region, name, v.version, v.document, v.createdAt);
  }

  deleteVersion(ns: Namespace, name: string, version: number): void {
    prepared(this.db, 'DELETE FROM policy_versions WHERE account_id = ? AND region = ? AND name = ? AND version = ?').run(
      ns.accountId,
      ns.region,
      name,
      version,
    );
  }

  attach(ns: Namespace, name: string, target: string): void {
    prepared(
      this.db,
      'INSERT OR IGNORE INTO policy_targets (account_id, region, policy_name, target, attached_at) VALUES (?, ?, ?, ?, ?)',
    ).run(ns.accountId, ns.region, name, target, Date.now());
  }

  detach(ns: Namespace, name: string, target: string): boolean {
    return (
      prepared(this.db, 'DELETE FROM policy_targets WHERE account_id = ? AND region = ? AND policy_name = ? AND target = ?').run(
        ns.accountId,
        ns.region,
        name,
        target,
      ).changes > 0
    );
  }

  detachTarget(ns: Namespace, target: string): void {
    prepared(this.db, 'DELETE FROM policy_targets WHERE account_id = ? AND region = ? AND target = ?').run(ns.accountId, ns.region, target);
  }

  targets(ns: Namespace, name: string): string[] {
    return (
      prepared(
        this.db,
        'SELECT target FROM policy_targets WHERE account_id = ? AND region = ? AND policy_name = ? ORDER BY attached_at, target',
      ).all(ns.accountId, ns.region, name) as Row[]
    ).map((r) => r.target as string);
  }

  policiesOf(ns: Namespace, target: string): string[] {
    return (
      prepared(
        this.db,
        'SELECT policy_name FROM policy_targets WHERE account_id = ? AND region = ? AND target = ? ORDER BY attached_at, policy_name',
      ).all(ns.accountId, ns.region, target) as Row[]
    ).map((r) => r.policy_name as string);
  }
}
