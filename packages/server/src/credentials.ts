/**
 * The admin access key created at first start, kept in `<data-dir>/credentials` in the AWS
 * shared-credentials format so the AWS CLI and SDKs can use it as it is.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface AccessKey {
  accessKeyId: string;
  secretAccessKey: string;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** `TKIA` + 16 base32 characters: the shape of an AWS key id, a prefix that is plainly not one. */
export function newAccessKey(): AccessKey {
  let id = 'TKIA';
  for (let i = 0; i < 16; i++) id += BASE32[randomInt(32)];
  const secretAccessKey = randomBytes(30).toString('base64').replace(/\+/g, 'A').replace(/\//g, 'B');
  return { accessKeyId: id, secretAccessKey };
}

export function formatCredentialsFile(key: AccessKey, profile = 'default'): string {
  return `[${profile}]\naws_access_key_id = ${key.accessKeyId}\naws_secret_access_key = ${key.secretAccessKey}\n`;
}

/** Reads the `default` profile of a shared-credentials file. */
export function parseCredentialsFile(text: string, profile = 'default'): AccessKey | undefined {
  let current = '';
  const values: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = section[1]!.trim();
      continue;
    }
    const eq = line.indexOf('=');
    if (current === profile && eq > 0) values[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  const id = values.aws_access_key_id;
  const secret = values.aws_secret_access_key;
  return id && secret ? { accessKeyId: id, secretAccessKey: secret } : undefined;
}

/** Returns the admin key, creating `<dataDir>/credentials` (mode 0600) on first start. */
export function ensureAdminCredentials(dataDir: string): { key: AccessKey; path: string; created: boolean } {
  const path = join(dataDir, 'credentials');
  if (existsSync(path)) {
    const key = parseCredentialsFile(readFileSync(path, 'utf8'));
    if (!key) throw new Error(`${path} has no [default] profile with aws_access_key_id and aws_secret_access_key`);
    return { key, path, created: false };
  }
  const key = newAccessKey();
  writeFileSync(path, formatCredentialsFile(key), { mode: 0o600, flag: 'wx' });
  return { key, path, created: true };
}
