/** `thicket authorizers` and `thicket cas`: custom authorizers and CA certificates over the API. */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import {
  CreateAuthorizerCommand,
  DeleteAuthorizerCommand,
  DeleteCACertificateCommand,
  DescribeAuthorizerCommand,
  DescribeCACertificateCommand,
  GetRegistrationCodeCommand,
  ListAuthorizersCommand,
  ListCACertificatesCommand,
  RegisterCACertificateCommand,
  RegisterCertificateCommand,
  SetDefaultAuthorizerCommand,
  TestInvokeAuthorizerCommand,
  UpdateAuthorizerCommand,
  UpdateCACertificateCommand,
} from '@aws-sdk/client-iot';
import { apiOptions, withClient, type ApiOptions } from '../api-client.js';
import { fields, print, table } from '../output.js';

/** `name=file.pem` pairs (or `name=literal` for an HMAC secret) from repeated --key. */
function signingKeys(pairs: string[] | undefined): Record<string, string> | undefined {
  if (!pairs) return undefined;
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq < 1) throw new Error(`--key expects name=<pem file or secret>, got "${p}"`);
    const value = p.slice(eq + 1);
    out[p.slice(0, eq)] = value.endsWith('.pem') ? readFileSync(value, 'utf8') : value;
  }
  return out;
}

export function registerAuthorizers(program: Command): void {
  const auth = program.command('authorizers').description('custom authorizers (a webhook, or the built-in JWT verifier thicket:jwt?...)');
  apiOptions(auth.command('list').description('list authorizers')).action((o: ApiOptions) =>
    withClient(o, async (iot) => {
      const r = await iot.send(new ListAuthorizersCommand({}));
      print(o.json, r, () => table(r.authorizers ?? [], ['authorizerName', 'authorizerArn']));
    }),
  );
  apiOptions(
    auth
      .command('create <name> <function>')
      .description('create one; <function> is an http(s) webhook URL or thicket:jwt?jwksUri=...|key=...&issuer=...&policyNames=...'),
  )
    .option('--token-key <name>', 'the user-name query / header carrying the token')
    .option('--key <name=value...>', 'token signing keys: name=public-key.pem, or name=<secret> for the JWT verifier')
    .option('--signing-disabled', 'do not require a token signature (x-amz-customauthorizer-signature)')
    .option('--inactive', 'create it INACTIVE')
    .action(
      (name: string, fn: string, o: ApiOptions & { tokenKey?: string; key?: string[]; signingDisabled?: boolean; inactive?: boolean }) =>
        withClient(o, async (iot) => {
          const r = await iot.send(
            new CreateAuthorizerCommand({
              authorizerName: name,
              authorizerFunctionArn: fn,
              tokenKeyName: o.tokenKey,
              tokenSigningPublicKeys: signingKeys(o.key),
              signingDisabled: o.signingDisabled,
              status: o.inactive ? 'INACTIVE' : 'ACTIVE',
            }),
          );
          print(o.json, r, () => `created authorizer ${r.authorizerName}\n`);
        }),
    );
  apiOptions(auth.command('describe <name>').description('show an authorizer')).action((name: string, o: ApiOptions) =>
    withClient(o, async (iot) => {
      const r = await iot.send(new DescribeAuthorizerCommand({ authorizerName: name }));
      const d = r.authorizerDescription ?? {};
      print(o.json, r, () =>
        fields(d, ['authorizerName', 'authorizerFunctionArn', 'status', 'tokenKeyName', 'signingDisabled', 'creationDate']),
      );
    }),
  );
  for (const [verb, status] of [
    ['activate', 'ACTIVE'],
    ['deactivate', 'INACTIVE'],
  ] as const) {
    apiOptions(auth.command(`${verb} <name>`).description(`set an authorizer ${status}`)).action((name: string, o: ApiOptions) =>
      withClient(o, async (iot) => {
        const r = await iot.send(new UpdateAuthorizerCommand({ authorizerName: name, status }));
        print(o.json, r, () => `authorizer ${name} is ${status}\n`);
      }),
    );
  }
  apiOptions(auth.command('delete <name>').description('delete an INACTIVE authorizer')).action((name: string, o: ApiOptions) =>
    withClient(o, async (iot) => {
      const r = await iot.send(new DeleteAuthorizerCommand({ authorizerName: name }));
      print(o.json, r, () => `deleted authorizer ${name}\n`);
    }),
  );
  apiOptions(auth.command('set-default <name>').description('the authorizer for clients that name none and have no certificate')).action(
    (name: string, o: ApiOptions) =>
      withClient(o, async (iot) => {
        const r = await iot.send(new SetDefaultAuthorizerCommand({ authorizerName: name }));
        print(o.json, r, () => `default authorizer is ${name}\n`);
      }),
  );
  apiOptions(auth.command('test <name> <token>').description('run the authorizer on a token and show its decision'))
    .option('--signature <sig>', 'the token signature')
    .action((name: string, token: string, o: ApiOptions & { signature?: string }) =>
      withClient(o, async (iot) => {
        const r = await iot.send(new TestInvokeAuthorizerCommand({ authorizerName: name, token, tokenSignature: o.signature }));
        print(
          o.json,
          r,
          () =>
            `${fields(r, ['isAuthenticated', 'principalId', 'disconnectAfterInSeconds', 'refreshAfterInSeconds'])}${(r.policyDocuments ?? []).join('\n')}\n`,
        );
      }),
    );

  const cas = program.command('cas').description('your own CA certificates, whose device certificates can then be registered');
  apiOptions(cas.command('registration-code').description('the code a verification certificate must carry as its common name')).action(
    (o: ApiOptions) =>
      withClient(o, async (iot) => {
        const r = await iot.send(new GetRegistrationCodeCommand({}));
        print(o.json, r, () => `${r.registrationCode}\n`);
      }),
  );
  apiOptions(
    cas
      .command('register <caPem> [verificationPem]')
      .description('register a CA certificate (with a verification certificate unless --sni-only)'),
  )
    .option('--inactive', 'register it INACTIVE')
    .option('--sni-only', 'SNI_ONLY mode: no verification certificate')
    .action((caPem: string, verificationPem: string | undefined, o: ApiOptions & { inactive?: boolean; sniOnly?: boolean }) =>
      withClient(o, async (iot) => {
        const r = await iot.send(
          new RegisterCACertificateCommand({
            caCertificate: readFileSync(caPem, 'utf8'),
            verificationCertificate: verificationPem ? readFileSync(verificationPem, 'utf8') : undefined,
            certificateMode: o.sniOnly ? 'SNI_ONLY' : 'DEFAULT',
            setAsActive: !o.inactive,
          }),
        );
        print(o.json, r, () => `registered CA certificate ${r.certificateId}\n`);
      }),
    );
  apiOptions(cas.command('list').description('list CA certificates')).action((o: ApiOptions) =>
    withClient(o, async (iot) => {
      const r = await iot.send(new ListCACertificatesCommand({}));
      print(o.json, r, () => table(r.certificates ?? [], ['certificateId', 'status', 'creationDate']));
    }),
  );
  apiOptions(cas.command('describe <id>').description('show a CA certificate')).action((id: string, o: ApiOptions) =>
    withClient(o, async (iot) => {
      const r = await iot.send(new DescribeCACertificateCommand({ certificateId: id }));
      print(o.json, r, () =>
        fields(r.certificateDescription ?? {}, ['certificateId', 'status', 'autoRegistrationStatus', 'certificateMode', 'validity']),
      );
    }),
  );
  for (const [verb, status] of [
    ['activate', 'ACTIVE'],
    ['deactivate', 'INACTIVE'],
  ] as const) {
    apiOptions(cas.command(`${verb} <id>`).description(`set a CA certificate ${status}`)).action((id: string, o: ApiOptions) =>
      withClient(o, async (iot) => {
        const r = await iot.send(new UpdateCACertificateCommand({ certificateId: id, newStatus: status }));
        print(o.json, r, () => `CA certificate ${id} is ${status}\n`);
      }),
    );
  }
  apiOptions(cas.command('delete <id>').description('delete an INACTIVE CA certificate')).action((id: string, o: ApiOptions) =>
    withClient(o, async (iot) => {
      const r = await iot.send(new DeleteCACertificateCommand({ certificateId: id }));
      print(o.json, r, () => `deleted CA certificate ${id}\n`);
    }),
  );
  const certs = program.commands.find((c) => c.name() === 'certs');
  if (certs) {
    apiOptions(certs.command('register <certPem> [caPem]').description('register a device certificate signed by a registered CA'))
      .option('--inactive', 'register it INACTIVE')
      .action((certPem: string, caPem: string | undefined, o: ApiOptions & { inactive?: boolean }) =>
        withClient(o, async (iot) => {
          const r = await iot.send(
            new RegisterCertificateCommand({
              certificatePem: readFileSync(certPem, 'utf8'),
              caCertificatePem: caPem ? readFileSync(caPem, 'utf8') : undefined,
              status: o.inactive ? 'INACTIVE' : 'ACTIVE',
            }),
          );
          print(o.json, r, () => `registered certificate ${r.certificateId}\n`);
        }),
      );
  }
}
