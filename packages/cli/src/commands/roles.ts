/**
 * `thicket roles` (Thicket's roles API: permission sets under arn:aws:iam::<account>:role/<name>)
 * and `thicket role-aliases` (the AWS IoT role aliases through which devices get credentials).
 */
import type { Command } from 'commander';
import {
  CreateRoleAliasCommand,
  DeleteRoleAliasCommand,
  DescribeRoleAliasCommand,
  ListRoleAliasesCommand,
  UpdateRoleAliasCommand,
} from '@aws-sdk/client-iot';
import { adminRequest } from '@thicket/server/client';
import { apiOptions, credentials, readable, withClient, type ApiOptions } from '../api-client.js';
import { numberOption, textArgument } from '../arguments.js';
import { fields, print, table } from '../output.js';

interface Role {
  roleName: string;
  roleId: string;
  roleArn: string;
  description: string;
  maxSessionDuration: number;
  policyDocument: string;
  creationDate: number;
  lastModifiedDate: number;
}

async function call<T>(o: ApiOptions, method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
  try {
    return await adminRequest<T>({ endpoint: o.endpoint, region: o.region, credentials: credentials(o), method, path, body });
  } catch (err) {
    throw readable(err, o);
  }
}

const rolePath = (name: string): string => `/_thicket/roles/${encodeURIComponent(name)}`;

/** A role given by name or ARN, as the ARN a role alias needs. */
async function roleArnOf(o: ApiOptions, role: string): Promise<string> {
  if (role.startsWith('arn:')) return role;
  return (await call<{ role: Role }>(o, 'GET', rolePath(role))).role.roleArn;
}

function roleFields(r: Role): string {
  const when = (s: number): string => new Date(s * 1000).toISOString();
  return (
    fields({ ...r, creationDate: when(r.creationDate), lastModifiedDate: when(r.lastModifiedDate) }, [
      'roleName',
      'roleArn',
      'roleId',
      'description',
      'maxSessionDuration',
      'creationDate',
      'lastModifiedDate',
    ]) + `${r.policyDocument}\n`
  );
}

interface RoleOptions extends ApiOptions {
  policy?: string;
  description?: string;
  maxSessionDuration?: string;
}

export function registerRoles(program: Command): void {
  const roles = program
    .command('roles')
    .description('roles: IAM-style policies over the API that credentials from the credentials provider act as');
  apiOptions(roles.command('create <name>').description('create a role'))
    .requiredOption('--policy <json>', 'the role policy: inline JSON, @file or - for standard input')
    .option('--description <text>', 'what it is for')
    .option('--max-session-duration <seconds>', 'the longest credentials a role alias may issue for it (3600-43200, default 3600)')
    .action(async (name: string, o: RoleOptions) => {
      const r = await call<{ role: Role }>(o, 'POST', rolePath(name), {
        policyDocument: textArgument(o.policy!),
        description: o.description,
        maxSessionDuration: numberOption(o.maxSessionDuration, '--max-session-duration'),
      });
      print(o.json, r, () => `created role ${r.role.roleArn}\n`);
    });
  apiOptions(roles.command('update <name>').description("change a role's policy, description or maximum session duration"))
    .option('--policy <json>', 'the new role policy: inline JSON, @file or -')
    .option('--description <text>', 'what it is for')
    .option('--max-session-duration <seconds>', '3600-43200')
    .action(async (name: string, o: RoleOptions) => {
      const r = await call<{ role: Role }>(o, 'PUT', rolePath(name), {
        policyDocument: o.policy === undefined ? undefined : textArgument(o.policy),
        description: o.description,
        maxSessionDuration: numberOption(o.maxSessionDuration, '--max-session-duration'),
      });
      print(o.json, r, () => `updated role ${r.role.roleArn}\n`);
    });
  apiOptions(roles.command('list').description('list roles')).action(async (o: ApiOptions) => {
    const r = await call<{ roles: Role[] }>(o, 'GET', '/_thicket/roles');
    print(o.json, r, () => table(r.roles, ['roleName', 'roleArn', 'maxSessionDuration', 'description']));
  });
  apiOptions(roles.command('describe <name>').description('show a role and its policy')).action(async (name: string, o: ApiOptions) => {
    const r = await call<{ role: Role }>(o, 'GET', rolePath(name));
    print(o.json, r, () => roleFields(r.role));
  });
  apiOptions(roles.command('delete <name>').description('delete a role (credentials acting as it are then allowed nothing)')).action(
    async (name: string, o: ApiOptions) => {
      const r = await call<object>(o, 'DELETE', rolePath(name));
      print(o.json, r, () => `deleted role ${name}\n`);
    },
  );

  const aliases = program
    .command('role-aliases')
    .description('role aliases: devices call GET /role-aliases/<alias>/credentials with their certificate');
  apiOptions(aliases.command('create <alias>').description('create a role alias'))
    .requiredOption('--role <name|arn>', 'the role (a name in your account, or its ARN)')
    .option('--duration <seconds>', 'how long issued credentials last (900-43200, default 3600)')
    .action(async (alias: string, o: ApiOptions & { role: string; duration?: string }) => {
      const roleArn = await roleArnOf(o, o.role);
      await withClient(o, async (iot) => {
        const r = await iot.send(
          new CreateRoleAliasCommand({
            roleAlias: alias,
            roleArn,
            credentialDurationSeconds: numberOption(o.duration, '--duration'),
          }),
        );
        print(o.json, r, () => `created role alias ${r.roleAliasArn} for ${roleArn}\n`);
      });
    });
  apiOptions(aliases.command('update <alias>').description("change a role alias's role or duration"))
    .option('--role <name|arn>', 'the role (a name in your account, or its ARN)')
    .option('--duration <seconds>', '900-43200')
    .action(async (alias: string, o: ApiOptions & { role?: string; duration?: string }) => {
      const roleArn = o.role === undefined ? undefined : await roleArnOf(o, o.role);
      await withClient(o, async (iot) => {
        const r = await iot.send(
          new UpdateRoleAliasCommand({ roleAlias: alias, roleArn, credentialDurationSeconds: numberOption(o.duration, '--duration') }),
        );
        print(o.json, r, () => `updated role alias ${r.roleAliasArn}\n`);
      });
    });
  apiOptions(aliases.command('list').description('list role aliases')).action((o: ApiOptions) =>
    withClient(o, async (iot) => {
      const names: string[] = [];
      let marker: string | undefined;
      do {
        const r = await iot.send(new ListRoleAliasesCommand({ marker }));
        names.push(...(r.roleAliases ?? []));
        marker = r.nextMarker;
      } while (marker);
      print(o.json, { roleAliases: names }, () =>
        table(
          names.map((roleAlias) => ({ roleAlias })),
          ['roleAlias'],
        ),
      );
    }),
  );
  apiOptions(aliases.command('describe <alias>').description('show a role alias')).action((alias: string, o: ApiOptions) =>
    withClient(o, async (iot) => {
      const r = await iot.send(new DescribeRoleAliasCommand({ roleAlias: alias }));
      print(o.json, r, () =>
        fields(r.roleAliasDescription ?? {}, [
          'roleAlias',
          'roleAliasArn',
          'roleArn',
          'credentialDurationSeconds',
          'owner',
          'creationDate',
          'lastModifiedDate',
        ]),
      );
    }),
  );
  apiOptions(aliases.command('delete <alias>').description('delete a role alias (credentials issued through it stop working)')).action(
    (alias: string, o: ApiOptions) =>
      withClient(o, async (iot) => {
        const r = await iot.send(new DeleteRoleAliasCommand({ roleAlias: alias }));
        print(o.json, r, () => `deleted role alias ${alias}\n`);
      }),
  );
}
