/**
 * `thicket provision <thing>`: onboarding a device in one command. Creates the thing, an ACTIVE
 * certificate with its key, a least-privilege policy for that thing (its own client id, its own
 * topics, its shadow and jobs topics), attaches them, and writes everything the device needs into a
 * folder with ready-to-run connect commands. `thicket certs issue <clientId>` is the same command.
 */
import type { Command } from 'commander';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  AddThingToThingGroupCommand,
  AttachPolicyCommand,
  AttachThingPrincipalCommand,
  CreateKeysAndCertificateCommand,
  CreatePolicyCommand,
  CreateThingCommand,
  GetPolicyCommand,
} from '@aws-sdk/client-iot';
import { apiOptions, withClient, type ApiOptions } from '../api-client.js';
import { print } from '../output.js';

/** The server's listener URLs, from its unauthenticated /endpoints (as the AWS SDK drops members it does not model). */
export async function listeners(o: ApiOptions): Promise<{ mqtts?: string; wss?: string }> {
  const r = await fetch(new URL('/endpoints', o.endpoint));
  if (!r.ok) throw new Error(`could not read ${o.endpoint}/endpoints: HTTP ${r.status}`);
  return (await r.json()) as { mqtts?: string; wss?: string };
}

/** Account and region of an ARN the API returned (`arn:aws:iot:<region>:<account>:...`). */
export function namespaceOf(arn: string): { accountId: string; region: string } {
  const [, , , region, accountId] = arn.split(':');
  if (!region || !accountId) throw new Error(`unexpected ARN ${arn}`);
  return { accountId, region };
}

/** The least-privilege policy of one thing: literal names, no variables to reason about. */
export function devicePolicy(accountId: string, region: string, thing: string): string {
  const arn = `arn:aws:iot:${region}:${accountId}`;
  return JSON.stringify(
    {
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Action: 'iot:Connect', Resource: `${arn}:client/${thing}` },
        {
          Effect: 'Allow',
          Action: ['iot:Publish', 'iot:Receive', 'iot:RetainPublish'],
          Resource: [`${arn}:topic/things/${thing}/*`, `${arn}:topic/$aws/things/${thing}/*`],
        },
        {
          Effect: 'Allow',
          Action: 'iot:Subscribe',
          Resource: [`${arn}:topicfilter/things/${thing}/*`, `${arn}:topicfilter/$aws/things/${thing}/*`],
        },
      ],
    },
    null,
    2,
  );
}

/** certificate.pem, private.key (0600) and the server's CA (fetched from /ca.pem). */
export async function writeDeviceFiles(
  o: ApiOptions,
  dir: string,
  certificatePem: string,
  privateKey: string,
): Promise<{ cert: string; key: string; ca: string }> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const files = { cert: join(dir, 'certificate.pem'), key: join(dir, 'private.key'), ca: join(dir, 'ca.pem') };
  writeFileSync(files.cert, certificatePem);
  writeFileSync(files.key, privateKey, { mode: 0o600 });
  const ca = await fetch(new URL('/ca.pem', o.endpoint));
  if (!ca.ok) throw new Error(`could not fetch the CA certificate from ${o.endpoint}/ca.pem: HTTP ${ca.status}`);
  writeFileSync(files.ca, await ca.text());
  return files;
}

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

interface ProvisionFlags extends ApiOptions {
  out?: string;
  type?: string;
  group?: string[];
  exclusive?: boolean;
}

async function provision(thing: string, o: ProvisionFlags): Promise<void> {
  await withClient(o, async (iot) => {
    const ep = await listeners(o);
    const created = await iot.send(new CreateThingCommand({ thingName: thing, thingTypeName: o.type }));
    const ns = namespaceOf(created.thingArn!);
    const cert = await iot.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
    const policyName = `${thing}-policy`.replace(/[^\w+=,.@-]/g, '_');
    const document = devicePolicy(ns.accountId, ns.region, thing);
    const existing = await iot.send(new GetPolicyCommand({ policyName })).catch(() => undefined);
    if (!existing) await iot.send(new CreatePolicyCommand({ policyName, policyDocument: document }));
    await iot.send(new AttachPolicyCommand({ policyName, target: cert.certificateArn }));
    await iot.send(
      new AttachThingPrincipalCommand({
        thingName: thing,
        principal: cert.certificateArn,
        thingPrincipalType: o.exclusive ? 'EXCLUSIVE_THING' : 'NON_EXCLUSIVE_THING',
      }),
    );
    for (const g of o.group ?? []) await iot.send(new AddThingToThingGroupCommand({ thingGroupName: g, thingName: thing }));

    const dir = resolve(o.out ?? join('devices', thing.replace(/[^A-Za-z0-9._-]/g, '_')));
    const files = await writeDeviceFiles(o, dir, cert.certificatePem!, cert.keyPair!.PrivateKey!);
    writeFileSync(join(dir, 'policy.json'), existing?.policyDocument ?? document);
    const url = new URL(ep.mqtts ?? 'mqtts://localhost:8883');
    const tls = `--cert ${q(files.cert)} --key ${q(files.key)} --ca ${q(files.ca)}`;
    const sub = `npx --yes mqtt sub -h ${url.hostname} -p ${url.port} -l mqtts ${tls} -i ${q(thing)} -t ${q(`things/${thing}/#`)} -v`;
    const pub = `npx --yes mqtt pub -h ${url.hostname} -p ${url.port} -l mqtts ${tls} -i ${q(thing)} -t ${q(`things/${thing}/hello`)} -m 'hello from ${thing}'`;
    const mosquitto = `mosquitto_sub -h ${url.hostname} -p ${url.port} --cert ${q(files.cert)} --key ${q(files.key)} --cafile ${q(files.ca)} -i ${q(thing)} -t ${q(`things/${thing}/#`)} -v`;
    const script = join(dir, 'connect.sh');
    writeFileSync(script, `#!/bin/sh\n# Subscribes as ${thing} to its own topics over mutual TLS.\nexec ${sub}\n`);
    chmodSync(script, 0o755);
    const result = {
      thingName: created.thingName,
      thingArn: created.thingArn,
      certificateId: cert.certificateId,
      certificateArn: cert.certificateArn,
      policyName,
      directory: dir,
      endpoint: url.href,
    };
    print(o.json, result, () =>
      [
        `Provisioned ${thing}`,
        `  thing         ${created.thingArn}`,
        `  certificate   ${cert.certificateId} (ACTIVE, attached${o.exclusive ? ' exclusively' : ''})`,
        `  policy        ${policyName} (client id ${thing}; topics things/${thing}/*, $aws/things/${thing}/*)`,
        `  files         ${dir}/{certificate.pem,private.key,ca.pem,policy.json,connect.sh}`,
        '',
        'Connect (as this device, client id = thing name):',
        `  ${script}`,
        `  ${pub}`,
        `  ${mosquitto}`,
        '',
      ].join('\n'),
    );
  });
}

export function registerProvision(program: Command): void {
  const configure = (cmd: Command): Command =>
    apiOptions(cmd)
      .option('--out <dir>', 'where to write the files (default ./devices/<thing>)')
      .option('--type <thingType>', 'thing type of the new thing')
      .option('--group <group...>', 'thing groups to add it to')
      .option('--exclusive', 'attach the certificate to this thing exclusively');
  configure(
    program
      .command('provision <thingName>')
      .description('onboard a device: thing, certificate, least-privilege policy, files and a connect command'),
  ).action((thing: string, o: ProvisionFlags) => provision(thing, o));
  const certs = program.commands.find((c) => c.name() === 'certs');
  if (certs) {
    configure(certs.command('issue <clientId>').description('provision a device whose client id (and thing name) is <clientId>')).action(
      (thing: string, o: ProvisionFlags) => provision(thing, o),
    );
  }
}
