/**
 * The management commands talk to a running server over its AWS-compatible HTTP API, with the
 * official AWS SDK client: the same path any AWS tool takes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { IoTClient } from '@aws-sdk/client-iot';
import { parseCredentialsFile, type AccessKey } from '@thicket/server/client';

export interface ApiOptions {
  endpoint: string;
  region: string;
  dataDir: string;
  profile: string;
  json?: boolean;
}

/** Adds the options every API command takes. */
export function apiOptions(cmd: Command): Command {
  return cmd
    .option('--endpoint <url>', 'Thicket HTTP API', process.env.THICKET_ENDPOINT ?? 'http://localhost:8080')
    .option('--region <region>', 'region (the namespace within the account)', process.env.AWS_REGION ?? 'us-east-1')
    .option('--data-dir <dir>', 'server data directory whose credentials file to use', process.env.THICKET_DATA_DIR ?? './data')
    .option('--profile <name>', 'profile in the credentials file', process.env.AWS_PROFILE ?? 'default')
    .option('--json', 'print the API response as JSON');
}

/** Credentials: AWS_ACCESS_KEY_ID/SECRET, else AWS_SHARED_CREDENTIALS_FILE, else <data-dir>/credentials. */
export function credentials(o: ApiOptions): AccessKey {
  const id = process.env.AWS_ACCESS_KEY_ID;
  const secret = process.env.AWS_SECRET_ACCESS_KEY;
  if (id && secret) return { accessKeyId: id, secretAccessKey: secret };
  const file = process.env.AWS_SHARED_CREDENTIALS_FILE ?? join(resolve(o.dataDir), 'credentials');
  if (!existsSync(file)) {
    throw new Error(
      `no credentials: ${file} does not exist (point --data-dir at the server's data directory, or set AWS_SHARED_CREDENTIALS_FILE)`,
    );
  }
  const key = parseCredentialsFile(readFileSync(file, 'utf8'), o.profile);
  if (!key) throw new Error(`${file} has no [${o.profile}] profile with aws_access_key_id and aws_secret_access_key`);
  return key;
}

export function iotClient(o: ApiOptions): IoTClient {
  return new IoTClient({ endpoint: o.endpoint, region: o.region, credentials: credentials(o), maxAttempts: 1 });
}

/** Runs a command against the API with a client from `make`; AWS errors become one readable line. */
export async function withApi<C extends { destroy(): void }, T>(
  o: ApiOptions,
  make: (o: ApiOptions) => C,
  fn: (client: C) => Promise<T>,
): Promise<T> {
  const client = make(o);
  try {
    return await fn(client);
  } catch (err) {
    throw readable(err, o);
  } finally {
    client.destroy();
  }
}

/** Runs a command against the control-plane API. */
export function withClient<T>(o: ApiOptions, fn: (iot: IoTClient) => Promise<T>): Promise<T> {
  return withApi(o, iotClient, fn);
}

/** An API failure as one line: the AWS error name and message, or why the server is unreachable. */
export function readable(err: unknown, o: ApiOptions): Error {
  const e = err as { name?: string; message?: string; code?: string; cause?: { code?: string } };
  if (e.code === 'ECONNREFUSED' || e.cause?.code === 'ECONNREFUSED') {
    return new Error(`cannot reach the Thicket API at ${o.endpoint} (is \`thicket serve\` running? --endpoint)`, { cause: err });
  }
  return new Error(e.name && e.name !== 'Error' ? `${e.name}: ${e.message}` : (e.message ?? String(err)), { cause: err });
}
