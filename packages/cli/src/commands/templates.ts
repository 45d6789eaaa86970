/**
 * `thicket templates` (fleet provisioning templates and their versions) and `thicket claims create`
 * (a five-minute claim certificate for a trusted user to put on a device), over the AWS API.
 */
import type { Command } from 'commander';
import {
  CreateProvisioningClaimCommand,
  CreateProvisioningTemplateCommand,
  CreateProvisioningTemplateVersionCommand,
  DeleteProvisioningTemplateCommand,
  DescribeProvisioningTemplateCommand,
  ListProvisioningTemplatesCommand,
  ListProvisioningTemplateVersionsCommand,
  UpdateProvisioningTemplateCommand,
  type ProvisioningTemplateSummary,
} from '@aws-sdk/client-iot';
import { apiOptions, withClient, type ApiOptions } from '../api-client.js';
import { numberOption, textArgument } from '../arguments.js';
import { fields, print, table } from '../output.js';
import { writeDeviceFiles } from './provision.js';

interface CreateOptions extends ApiOptions {
  body: string;
  roleArn: string;
  description?: string;
  enabled?: boolean;
  type?: string;
  hook?: string;
}

interface UpdateOptions extends ApiOptions {
  enabled?: string;
  description?: string;
  defaultVersion?: string;
  roleArn?: string;
  hook?: string;
  removeHook?: boolean;
}

function enabledOption(v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  if (v !== 'true' && v !== 'false') throw new Error(`--enabled takes true or false, not ${v}`);
  return v === 'true';
}

const hookOf = (arn: string | undefined) => (arn === undefined ? undefined : { targetArn: arn });

export function registerTemplates(program: Command): void {
  const templates = program
    .command('templates')
    .description('fleet provisioning templates: what a device provisioning by claim (or just in time) becomes');
  apiOptions(templates.command('create <name>').description('create a provisioning template'))
    .requiredOption('--body <json>', 'the template body: inline JSON, @file or - for standard input')
    .requiredOption('--role-arn <arn>', 'the provisioning role ARN (stored, as AWS requires one)')
    .option('--description <text>', 'what it is for')
    .option('--enabled', 'devices may provision with it at once (default: disabled)')
    .option('--type <type>', 'FLEET_PROVISIONING (default) or JITP')
    .option('--hook <function-arn>', 'a pre-provisioning hook: the function that allows or denies each device')
    .action((name: string, o: CreateOptions) =>
      withClient(o, async (iot) => {
        const r = await iot.send(
          new CreateProvisioningTemplateCommand({
            templateName: name,
            templateBody: textArgument(o.body),
            provisioningRoleArn: o.roleArn,
            description: o.description,
            enabled: o.enabled ?? false,
            type: o.type as 'FLEET_PROVISIONING' | 'JITP' | undefined,
            preProvisioningHook: hookOf(o.hook),
          }),
        );
        print(
          o.json,
          r,
          () => `created provisioning template ${r.templateArn}${o.enabled ? '' : ' (disabled: enable it with --enabled true)'}\n`,
        );
      }),
    );
  apiOptions(templates.command('update <name>').description('enable or disable a template, change its default version, role or hook'))
    .option('--enabled <true|false>', 'whether devices may provision with it')
    .option('--description <text>', 'what it is for')
    .option('--default-version <n>', 'the version devices provision with')
    .option('--role-arn <arn>', 'the provisioning role ARN')
    .option('--hook <function-arn>', 'a pre-provisioning hook')
    .option('--remove-hook', 'remove the pre-provisioning hook')
    .action((name: string, o: UpdateOptions) =>
      withClient(o, async (iot) => {
        const r = await iot.send(
          new UpdateProvisioningTemplateCommand({
            templateName: name,
            enabled: enabledOption(o.enabled),
            description: o.description,
            defaultVersionId: numberOption(o.defaultVersion, '--default-version'),
            provisioningRoleArn: o.roleArn,
            preProvisioningHook: hookOf(o.hook),
            removePreProvisioningHook: o.removeHook,
          }),
        );
        print(o.json, r, () => `updated provisioning template ${name}\n`);
      }),
    );
  apiOptions(templates.command('list').description('list provisioning templates')).action((o: ApiOptions) =>
    withClient(o, async (iot) => {
      const all: ProvisioningTemplateSummary[] = [];
      let nextToken: string | undefined;
      do {
        const r = await iot.send(new ListProvisioningTemplatesCommand({ nextToken }));
        all.push(...(r.templates ?? []));
        nextToken = r.nextToken;
      } while (nextToken);
      print(o.json, { templates: all }, () => table(all, ['templateName', 'type', 'enabled', 'description']));
    }),
  );
  apiOptions(templates.command('describe <name>').description('show a template, its versions and its default body')).action(
    (name: string, o: ApiOptions) =>
      withClient(o, async (iot) => {
        const r = await iot.send(new DescribeProvisioningTemplateCommand({ templateName: name }));
        const v = await iot.send(new ListProvisioningTemplateVersionsCommand({ templateName: name }));
        const versions = (v.versions ?? []).map((x) => `${x.versionId}${x.isDefaultVersion ? '*' : ''}`).join(' ');
        print(o.json, { ...r, versions: v.versions }, () => {
          const shown = { ...r, preProvisioningHook: r.preProvisioningHook?.targetArn, versions };
          const body = JSON.stringify(JSON.parse(r.templateBody ?? '{}'), null, 2);
          return (
            fields(shown, [
              'templateName',
              'templateArn',
              'type',
              'enabled',
              'description',
              'provisioningRoleArn',
              'preProvisioningHook',
              'versions',
            ]) + `${body}\n`
          );
        });
      }),
  );
  apiOptions(templates.command('version <name>').description('add a version of a template body'))
    .requiredOption('--body <json>', 'the template body: inline JSON, @file or -')
    .option('--set-default', 'devices provision with this version from now on')
    .action((name: string, o: ApiOptions & { body: string; setDefault?: boolean }) =>
      withClient(o, async (iot) => {
        const r = await iot.send(
          new CreateProvisioningTemplateVersionCommand({
            templateName: name,
            templateBody: textArgument(o.body),
            setAsDefault: o.setDefault,
          }),
        );
        print(o.json, r, () => `created version ${r.versionId} of ${name}${r.isDefaultVersion ? ' (default)' : ''}\n`);
      }),
    );
  apiOptions(templates.command('delete <name>').description('delete a template and its versions')).action((name: string, o: ApiOptions) =>
    withClient(o, async (iot) => {
      const r = await iot.send(new DeleteProvisioningTemplateCommand({ templateName: name }));
      print(o.json, r, () => `deleted provisioning template ${name}\n`);
    }),
  );

  const claims = program.command('claims').description('claim certificates: what a device provisions itself with');
  apiOptions(
    claims.command('create <template>').description('a claim certificate valid five minutes, allowed only to provision with the template'),
  )
    .option('--out <dir>', 'write certificate.pem, private.key (0600) and ca.pem there instead of printing them')
    .action((template: string, o: ApiOptions & { out?: string }) =>
      withClient(o, async (iot) => {
        const r = await iot.send(new CreateProvisioningClaimCommand({ templateName: template }));
        const expires = r.expiration?.toISOString();
        // The same files `thicket provision` writes, so a device reads either the same way.
        if (o.out) await writeDeviceFiles(o, o.out, r.certificatePem ?? '', r.keyPair?.PrivateKey ?? '');
        const shown = o.out ? { certificateId: r.certificateId, expiration: expires, directory: o.out } : r;
        print(o.json, shown, () =>
          o.out
            ? `claim certificate ${r.certificateId} (expires ${expires}) written to ${o.out}/{certificate.pem,private.key,ca.pem}\n`
            : `${r.certificatePem}${r.keyPair?.PrivateKey}expires ${expires}\n`,
        );
      }),
    );
}
