/** `thicket accounts` and `thicket keys`: accounts (namespaces' owners) and their access keys. */
import type { Command } from 'commander';
import { adminRequest } from '@thicket/server/client';
import { apiOptions, credentials, type ApiOptions } from '../api-client.js';
import { print, table } from '../output.js';

interface Key {
  accessKeyId: string;
  secretAccessKey?: string;
  accountId: string;
  root: boolean;
  readOnly: boolean;
  description: string;
}

function call<T>(
  o: ApiOptions,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
  query?: Record<string, string>,
): Promise<T> {
  return adminRequest<T>({ endpoint: o.endpoint, region: o.region, credentials: credentials(o), method, path, body, query });
}

const credentialsFile = (k: Key, profile: string): string =>
  `[${profile}]\naws_access_key_id = ${k.accessKeyId}\naws_secret_access_key = ${k.secretAccessKey}\n`;

export function registerAccounts(program: Command): void {
  const accounts = program
    .command('accounts')
    .description('accounts: each has its own things, certificates, policies and topic space, per region');
  apiOptions(accounts.command('create').description('create an account and an admin access key for it (needs a root key)'))
    .option('--account-id <id>', 'twelve digits (default: random)')
    .option('--name <name>', 'a name for it')
    .action(async (o: ApiOptions & { accountId?: string; name?: string }) => {
      const r = await call<{ accountId: string; name: string; accessKey: Key }>(o, 'POST', '/_thicket/accounts', {
        accountId: o.accountId,
        name: o.name,
      });
      print(o.json, r, () =>
        [
          `created account ${r.accountId} (${r.name}) with an admin access key; its secret is shown once:`,
          '',
          credentialsFile(r.accessKey, `account-${r.accountId}`),
        ].join('\n'),
      );
    });
  apiOptions(accounts.command('list').description('list accounts')).action(async (o: ApiOptions) => {
    const r = await call<{ accounts: Array<{ accountId: string; name: string }> }>(o, 'GET', '/_thicket/accounts');
    print(o.json, r, () => table(r.accounts, ['accountId', 'name']));
  });

  const keys = program.command('keys').description('access keys for the HTTP API');
  apiOptions(keys.command('create').description('create an access key (for your account, or --account with a root key)'))
    .option('--account <id>', 'the account the key belongs to')
    .option('--read-only', 'the key may only call operations that change nothing')
    .option('--description <text>', 'what it is for')
    .action(async (o: ApiOptions & { account?: string; readOnly?: boolean; description?: string }) => {
      const r = await call<{ accessKey: Key }>(o, 'POST', '/_thicket/access-keys', {
        accountId: o.account,
        readOnly: o.readOnly,
        description: o.description,
      });
      print(
        o.json,
        r,
        () =>
          `created access key ${r.accessKey.accessKeyId}; its secret is shown once:\n\n${credentialsFile(r.accessKey, r.accessKey.accessKeyId)}`,
      );
    });
  apiOptions(keys.command('list').description('list access keys (never their secrets)'))
    .option('--account <id>', 'keys of this account (root key)')
    .action(async (o: ApiOptions & { account?: string }) => {
      const r = await call<{ accessKeys: Key[] }>(
        o,
        'GET',
        '/_thicket/access-keys',
        undefined,
        o.account ? { accountId: o.account } : undefined,
      );
      print(o.json, r, () => table(r.accessKeys, ['accessKeyId', 'accountId', 'root', 'readOnly', 'description']));
    });
  apiOptions(keys.command('delete <accessKeyId>').description('delete an access key')).action(async (id: string, o: ApiOptions) => {
    const r = await call<object>(o, 'DELETE', `/_thicket/access-keys/${encodeURIComponent(id)}`);
    print(o.json, r, () => `deleted access key ${id}\n`);
  });
}
