/**
 * Thicket's own admin API (not an AWS one), signed with SigV4 like the rest: accounts, and the
 * access keys that belong to them. A root key manages every account; other keys manage keys of
 * their own account. Secrets are returned once, at creation.
 */
import { randomInt } from 'node:crypto';
import type { ApiContext, ApiRoute } from '../api/aws-api.js';
import { AwsError, alreadyExists, invalidRequest, notFound } from '../aws/errors.js';
import type { AccountStore, StoredAccessKey } from './account-store.js';
import { isAccountId } from './namespace.js';

const denied = (why: string): AwsError => new AwsError('AccessDeniedException', 403, why);

/** Admin operations are for access keys only (devices never reach them: the routes are not `device`). */
function keyOf(ctx: ApiContext): StoredAccessKey {
  if (!ctx.key) throw denied('the admin API needs a SigV4-signed request');
  return ctx.key;
}

function requireRoot(ctx: ApiContext): void {
  const key = keyOf(ctx);
  if (!key.root) throw denied(`access key ${key.accessKeyId} is not a root key; only root keys manage accounts`);
}

function keyView(k: StoredAccessKey, withSecret: boolean) {
  return {
    accessKeyId: k.accessKeyId,
    secretAccessKey: withSecret ? k.secretAccessKey : undefined,
    accountId: k.accountId,
    root: k.root,
    readOnly: k.readOnly,
    description: k.description,
    createdAt: k.createdAt / 1000,
  };
}

export function adminRoutes(accounts: AccountStore): ApiRoute[] {
  /** The account a key operation is about: the caller's own, or any for a root key. */
  const accountFor = (ctx: ApiContext, requested: unknown): string => {
    const id = requested === undefined ? ctx.ns.accountId : String(requested);
    const key = keyOf(ctx);
    if (id !== ctx.ns.accountId && !key.root)
      throw denied(`access key ${key.accessKeyId} may manage keys of account ${ctx.ns.accountId} only`);
    if (!accounts.account(id)) throw notFound(`account ${id} does not exist`);
    return id;
  };
  return [
    {
      method: 'POST',
      path: '/_thicket/accounts',
      service: 'iot',
      operation: 'CreateAccount',
      handler: async (r) => {
        requireRoot(r.ctx);
        let accountId = r.body.accountId;
        if (accountId === undefined) {
          do accountId = Array.from({ length: 12 }, () => randomInt(10)).join('');
          while (accounts.account(accountId as string));
        }
        if (typeof accountId !== 'string' || !isAccountId(accountId))
          throw invalidRequest(`accountId must be twelve digits, not '${String(accountId)}'`);
        if (accounts.account(accountId)) throw alreadyExists(`account ${accountId} already exists`, accountId);
        const name = typeof r.body.name === 'string' ? r.body.name : accountId;
        const created = await accounts.createAccount(accountId, name, `admin key of account ${accountId}`);
        // Another request (or node) took the id between the check above and the insert.
        if (!created) throw alreadyExists(`account ${accountId} already exists`, accountId);
        return { accountId, name: created.account.name, accessKey: keyView(created.key, true) };
      },
    },
    {
      method: 'GET',
      path: '/_thicket/accounts',
      service: 'iot',
      operation: 'ListAccounts',
      readOnly: true,
      handler: (r) => {
        const all = accounts.accounts();
        const visible = keyOf(r.ctx).root ? all : all.filter((a) => a.accountId === r.ctx.ns.accountId);
        return { accounts: visible.map((a) => ({ accountId: a.accountId, name: a.name, createdAt: a.createdAt / 1000 })) };
      },
    },
    {
      method: 'POST',
      path: '/_thicket/access-keys',
      service: 'iot',
      operation: 'CreateAccessKey',
      handler: async (r) => {
        const accountId = accountFor(r.ctx, r.body.accountId);
        if (r.body.root === true) requireRoot(r.ctx);
        const key = await accounts.createKey(accountId, {
          root: r.body.root === true,
          readOnly: r.body.readOnly === true,
          description: typeof r.body.description === 'string' ? r.body.description : '',
        });
        return { accessKey: keyView(key, true) };
      },
    },
    {
      method: 'GET',
      path: '/_thicket/access-keys',
      service: 'iot',
      operation: 'ListAccessKeys',
      readOnly: true,
      handler: (r) => ({ accessKeys: accounts.keysOf(accountFor(r.ctx, r.query.accountId)).map((k) => keyView(k, false)) }),
    },
    {
      method: 'DELETE',
      path: '/_thicket/access-keys/:accessKeyId',
      service: 'iot',
      operation: 'DeleteAccessKey',
      handler: async (r) => {
        const key = accounts.key(r.params.accessKeyId!);
        if (!key) throw notFound(`access key ${r.params.accessKeyId} does not exist`);
        accountFor(r.ctx, key.accountId);
        if (key.accessKeyId === keyOf(r.ctx).accessKeyId) throw invalidRequest('a key cannot delete itself');
        await accounts.deleteKey(key.accessKeyId);
        return {};
      },
    },
  ];
}
