/** `thicket certs` and `thicket policies`: certificates, policies and their attachments over the API. */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import {
  AttachPolicyCommand,
  AttachThingPrincipalCommand,
  CreateKeysAndCertificateCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  DeleteCertificateCommand,
  DeletePolicyCommand,
  DeletePolicyVersionCommand,
  DescribeCertificateCommand,
  DescribeThingGroupCommand,
  DetachPolicyCommand,
  DetachThingPrincipalCommand,
  GetPolicyCommand,
  ListCertificatesCommand,
  ListPoliciesCommand,
  ListPolicyVersionsCommand,
  UpdateCertificateCommand,
  type IoTClient,
} from '@aws-sdk/client-iot';
import { apiOptions, withClient, type ApiOptions } from '../api-client.js';
import { fields, print, table } from '../output.js';
import { writeDeviceFiles } from './provision.js';

/** A certificate id or ARN → ARN (the region/account come from the server's answer). */
async function certArn(iot: IoTClient, idOrArn: string): Promise<string> {
  if (idOrArn.startsWith('arn:')) return idOrArn;
  const d = await iot.send(new DescribeCertificateCommand({ certificateId: idOrArn }));
  return d.certificateDescription!.certificateArn!;
}

/** A policy target: a certificate id or ARN, `group:<name>`, or a thing group ARN. */
async function target(iot: IoTClient, raw: string): Promise<string> {
  if (raw.startsWith('group:')) {
    return (await iot.send(new DescribeThingGroupCommand({ thingGroupName: raw.slice(6) }))).thingGroupArn!;
  }
  return certArn(iot, raw);
}

function readDocument(arg: string): string {
  const text = arg.trim().startsWith('{') ? arg : readFileSync(arg, 'utf8');
  return text;
}

export function registerCerts(program: Command): void {
  const certs = program.command('certs').description('device certificates');
  apiOptions(certs.command('list').description('list certificates')).action((o: ApiOptions) =>
    withClient(o, async (iot) => {
      const r = await iot.send(new ListCertificatesCommand({ pageSize: 250 }));
      print(o.json, r, () => table(r.certificates ?? [], ['certificateId', 'status', 'creationDate']));
    }),
  );
  apiOptions(certs.command('describe <certificateId>').description('show a certificate')).action((id: string, o: ApiOptions) =>
    withClient(o, async (iot) => {
      const r = await iot.send(new DescribeCertificateCommand({ certificateId: id }));
      const d = r.certificateDescription ?? {};
      print(o.json, r, () => fields(d, ['certificateId', 'certificateArn', 'status', 'caCertificateId', 'creationDate', 'validity']));
    }),
  );
  apiOptions(certs.command('create').description('create a key pair and a certificate signed by the server CA'))
    .option('--out <dir>', 'write certificate.pem, private.key and ca.pem here')
    .option('--inactive', 'create it INACTIVE')
    .action((o: ApiOptions & { out?: string; inactive?: boolean }) =>
      withClient(o, async (iot) => {
        const r = await iot.send(new CreateKeysAndCertificateCommand({ setAsActive: !o.inactive }));
        if (o.out) await writeDeviceFiles(o, o.out, r.certificatePem!, r.keyPair!.PrivateKey!);
        print(
          o.json,
          r,
          () => `created certificate ${r.certificateId} (${o.inactive ? 'INACTIVE' : 'ACTIVE'})${o.out ? ` in ${o.out}` : ''}\n`,
        );
      }),
    );
  for (const [verb, status] of [
    ['activate', 'ACTIVE'],
    ['deactivate', 'INACTIVE'],
    ['revoke', 'REVOKED'],
  ] as const) {
    apiOptions(certs.command(`${verb} <certificateId>`).description(`set a certificate ${status}`)).action((id: string, o: ApiOptions) =>
      withClient(o, async (iot) => {
        const r = await iot.send(new UpdateCertificateCommand({ certificateId: id, newStatus: status }));
        print(o.json, r, () => `certificate ${id} is ${status}\n`);
      }),
    );
  }
  apiOptions(certs.command('delete <certificateId>').description('delete an inactive certificate'))
    .option('--force', 'also detach its policies')
    .action((id: string, o: ApiOptions & { force?: boolean }) =>
      withClient(o, async (iot) => {
        const r = await iot.send(new DeleteCertificateCommand({ certificateId: id, forceDelete: o.force }));
        print(o.json, r, () => `deleted certificate ${id}\n`);
      }),
    );
  apiOptions(certs.command('attach <certificateId> <thing>').description('attach a certificate to a thing'))
    .option('--exclusive', 'the certificate may belong to this thing only')
    .action((id: string, thing: string, o: ApiOptions & { exclusive?: boolean }) =>
      withClient(o, async (iot) => {
        const principal = await certArn(iot, id);
        const r = await iot.send(
          new AttachThingPrincipalCommand({
            thingName: thing,
            principal,
            thingPrincipalType: o.exclusive ? 'EXCLUSIVE_THING' : 'NON_EXCLUSIVE_THING',
          }),
        );
        print(o.json, r, () => `attached ${id} to ${thing}\n`);
      }),
    );
  apiOptions(certs.command('detach <certificateId> <thing>').description('detach a certificate from a thing')).action(
    (id: string, thing: string, o: ApiOptions) =>
      withClient(o, async (iot) => {
        const r = await iot.send(new DetachThingPrincipalCommand({ thingName: thing, principal: await certArn(iot, id) }));
        print(o.json, r, () => `detached ${id} from ${thing}\n`);
      }),
  );

  const policies = program.command('policies').description('IoT policies');
  apiOptions(policies.command('list').description('list policies')).action((o: ApiOptions) =>
    withClient(o, async (iot) => {
      const r = await iot.send(new ListPoliciesCommand({ pageSize: 250 }));
      print(o.json, r, () => table(r.policies ?? [], ['policyName', 'policyArn']));
    }),
  );
  apiOptions(policies.command('get <name>').description('show a policy and its default document')).action((name: string, o: ApiOptions) =>
    withClient(o, async (iot) => {
      const r = await iot.send(new GetPolicyCommand({ policyName: name }));
      print(
        o.json,
        r,
        () => `${fields(r, ['policyName', 'policyArn', 'defaultVersionId'])}\n${JSON.stringify(JSON.parse(r.policyDocument!), null, 2)}\n`,
      );
    }),
  );
  apiOptions(policies.command('create <name> <document>').description('create a policy from a JSON file or JSON text')).action(
    (name: string, doc: string, o: ApiOptions) =>
      withClient(o, async (iot) => {
        const r = await iot.send(new CreatePolicyCommand({ policyName: name, policyDocument: readDocument(doc) }));
        print(o.json, r, () => `created policy ${name}\n`);
      }),
  );
  apiOptions(
    policies.command('update <name> <document>').description('make a new default version (the oldest other version goes when five exist)'),
  ).action((name: string, doc: string, o: ApiOptions) =>
    withClient(o, async (iot) => {
      const versions = (await iot.send(new ListPolicyVersionsCommand({ policyName: name }))).policyVersions ?? [];
      if (versions.length >= 5) {
        const oldest = versions.filter((v) => !v.isDefaultVersion).sort((a, b) => Number(a.versionId) - Number(b.versionId))[0];
        if (oldest) await iot.send(new DeletePolicyVersionCommand({ policyName: name, policyVersionId: oldest.versionId }));
      }
      const r = await iot.send(new CreatePolicyVersionCommand({ policyName: name, policyDocument: readDocument(doc), setAsDefault: true }));
      print(o.json, r, () => `policy ${name} is now version ${r.policyVersionId}\n`);
    }),
  );
  apiOptions(policies.command('delete <name>').description('delete a policy')).action((name: string, o: ApiOptions) =>
    withClient(o, async (iot) => {
      const r = await iot.send(new DeletePolicyCommand({ policyName: name }));
      print(o.json, r, () => `deleted policy ${name}\n`);
    }),
  );
  apiOptions(
    policies.command('attach <name> <target>').description('attach to a certificate (id or ARN) or a thing group (group:<name>)'),
  ).action((name: string, t: string, o: ApiOptions) =>
    withClient(o, async (iot) => {
      const r = await iot.send(new AttachPolicyCommand({ policyName: name, target: await target(iot, t) }));
      print(o.json, r, () => `attached ${name} to ${t}\n`);
    }),
  );
  apiOptions(policies.command('detach <name> <target>').description('detach from a certificate or a thing group')).action(
    (name: string, t: string, o: ApiOptions) =>
      withClient(o, async (iot) => {
        const r = await iot.send(new DetachPolicyCommand({ policyName: name, target: await target(iot, t) }));
        print(o.json, r, () => `detached ${name} from ${t}\n`);
      }),
  );
}
