/**
 * `thicket domains`: domain configurations (further host names with their own certificate and
 * default authorizer, matched by SNI), and `thicket domains certs` for the server certificates
 * they present (Thicket's stand-in for ACM).
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import {
  CreateDomainConfigurationCommand,
  DeleteDomainConfigurationCommand,
  DescribeDomainConfigurationCommand,
  UpdateDomainConfigurationCommand,
  type DescribeDomainConfigurationCommandOutput,
  type IoTClient,
} from '@aws-sdk/client-iot';
import { paginateListDomainConfigurations } from '@aws-sdk/client-iot';
import { adminRequest, type AdminRequest } from '@thicket/server/client';
import { apiOptions, credentials, withClient, type ApiOptions } from '../api-client.js';
import { fields, print, table } from '../output.js';

const CERTS = '/_thicket/server-certificates';

function readPem(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(
      `cannot read the ${what} ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

const certsCall = <T>(o: ApiOptions, method: AdminRequest['method'], path: string, body?: unknown): Promise<T> =>
  adminRequest<T>({ endpoint: o.endpoint, region: o.region, credentials: credentials(o), method, path, body });

async function importCertificate(o: ApiOptions, certPath: string, keyPath: string, chainPath?: string): Promise<string> {
  const body = {
    certificate: readPem(certPath, 'certificate'),
    privateKey: readPem(keyPath, 'private key'),
    ...(chainPath ? { certificateChain: readPem(chainPath, 'certificate chain') } : {}),
  };
  return (await certsCall<{ certificateArn: string }>(o, 'POST', CERTS, body)).certificateArn;
}

function describeText(d: DescribeDomainConfigurationCommandOutput): string {
  const cert = d.serverCertificates?.[0];
  return fields(
    {
      ...d,
      serverCertificate: cert ? `${cert.serverCertificateArn} (${cert.serverCertificateStatus})` : '(issued by the server CA)',
      defaultAuthorizer: d.authorizerConfig?.defaultAuthorizerName ?? '',
      allowAuthorizerOverride: d.authorizerConfig?.allowAuthorizerOverride ?? '',
    },
    [
      'domainConfigurationName',
      'domainName',
      'domainConfigurationStatus',
      'domainType',
      'serviceType',
      'serverCertificate',
      'defaultAuthorizer',
      'allowAuthorizerOverride',
      'lastStatusChangeDate',
      'domainConfigurationArn',
    ],
  );
}

async function setStatus(iot: IoTClient, name: string, status: 'ENABLED' | 'DISABLED') {
  return iot.send(new UpdateDomainConfigurationCommand({ domainConfigurationName: name, domainConfigurationStatus: status }));
}

export function registerDomains(program: Command): void {
  const domains = program
    .command('domains')
    .description('domain configurations: more host names, each with its own TLS certificate and default custom authorizer (by SNI)');

  apiOptions(domains.command('list').description('list domain configurations with their host names and status')).action((o: ApiOptions) =>
    withClient(o, async (iot) => {
      const rows: DescribeDomainConfigurationCommandOutput[] = [];
      for await (const page of paginateListDomainConfigurations({ client: iot }, {})) {
        for (const s of page.domainConfigurations ?? []) {
          rows.push(await iot.send(new DescribeDomainConfigurationCommand({ domainConfigurationName: s.domainConfigurationName })));
        }
      }
      print(o.json, { domainConfigurations: rows.map(({ $metadata: _m, ...r }) => r) }, () =>
        table(
          rows.map((r) => ({ ...r, defaultAuthorizer: r.authorizerConfig?.defaultAuthorizerName })),
          ['domainConfigurationName', 'domainName', 'domainConfigurationStatus', 'domainType', 'defaultAuthorizer'],
        ),
      );
    }),
  );

  apiOptions(
    domains
      .command('create <name>')
      .description(
        'create one; without --cert/--certificate-arn the server CA issues a certificate for --domain (without --domain a name is generated)',
      ),
  )
    .option('--domain <host>', 'the host name clients ask for (SNI)')
    .option('--cert <pem>', 'server certificate (PEM) to import and present; needs --key')
    .option('--key <pem>', 'its private key (PEM); stored by the server, never shown again')
    .option('--chain <pem>', 'intermediate certificates (PEM) sent after the certificate')
    .option('--certificate-arn <arn>', 'a certificate imported before (thicket domains certs import)')
    .option('--authorizer <name>', "default custom authorizer for clients on this domain (instead of the account's default)")
    .option('--allow-override', 'clients may name another authorizer (x-amz-customauthorizer-name)')
    .option('--service-type <type>', 'DATA, CREDENTIAL_PROVIDER or JOBS', 'DATA')
    .action(
      (
        name: string,
        o: ApiOptions & {
          domain?: string;
          cert?: string;
          key?: string;
          chain?: string;
          certificateArn?: string;
          authorizer?: string;
          allowOverride?: boolean;
          serviceType: string;
        },
      ) =>
        withClient(o, async (iot) => {
          if ((o.cert === undefined) !== (o.key === undefined)) throw new Error('--cert and --key go together');
          if (o.cert && o.certificateArn) throw new Error('give either --cert/--key or --certificate-arn, not both');
          if ((o.cert || o.certificateArn) && !o.domain)
            throw new Error('a certificate needs --domain: it is presented for that host name');
          const arn = o.cert ? await importCertificate(o, o.cert, o.key!, o.chain) : o.certificateArn;
          const r = await iot.send(
            new CreateDomainConfigurationCommand({
              domainConfigurationName: name,
              domainName: o.domain,
              serverCertificateArns: arn ? [arn] : undefined,
              serviceType: o.serviceType as 'DATA',
              authorizerConfig: o.authorizer
                ? { defaultAuthorizerName: o.authorizer, allowAuthorizerOverride: Boolean(o.allowOverride) }
                : undefined,
            }),
          );
          const d = await iot.send(new DescribeDomainConfigurationCommand({ domainConfigurationName: name }));
          print(o.json, r, () => `created domain configuration ${name} for ${d.domainName}\n`);
        }),
    );

  apiOptions(domains.command('describe <name>').description('show a domain configuration')).action((name: string, o: ApiOptions) =>
    withClient(o, async (iot) => {
      const d = await iot.send(new DescribeDomainConfigurationCommand({ domainConfigurationName: name }));
      print(o.json, d, () => describeText(d));
    }),
  );

  for (const [verb, status] of [
    ['enable', 'ENABLED'],
    ['disable', 'DISABLED'],
  ] as const) {
    const what = status === 'DISABLED' ? ' (new TLS connections to it are refused, open ones closed)' : '';
    apiOptions(domains.command(`${verb} <name>`).description(`set a domain configuration ${status}${what}`)).action(
      (name: string, o: ApiOptions) =>
        withClient(o, async (iot) => {
          const r = await setStatus(iot, name, status);
          print(o.json, r, () => `domain configuration ${name} is ${status}\n`);
        }),
    );
  }

  apiOptions(
    domains.command('set-authorizer <name> [authorizer]').description('set (or with --remove, remove) the default custom authorizer'),
  )
    .option('--allow-override', 'clients may name another authorizer')
    .option('--remove', 'remove the authorizer configuration')
    .action((name: string, authorizer: string | undefined, o: ApiOptions & { allowOverride?: boolean; remove?: boolean }) =>
      withClient(o, async (iot) => {
        if (!o.remove && !authorizer) throw new Error('name an authorizer, or give --remove');
        const r = await iot.send(
          new UpdateDomainConfigurationCommand({
            domainConfigurationName: name,
            ...(o.remove
              ? { removeAuthorizerConfig: true }
              : { authorizerConfig: { defaultAuthorizerName: authorizer, allowAuthorizerOverride: Boolean(o.allowOverride) } }),
          }),
        );
        print(o.json, r, () =>
          o.remove ? `domain configuration ${name} has no default authorizer\n` : `default authorizer of ${name} is ${authorizer}\n`,
        );
      }),
    );

  apiOptions(domains.command('delete <name>').description('delete a DISABLED domain configuration'))
    .option('--force', 'disable it first')
    .action((name: string, o: ApiOptions & { force?: boolean }) =>
      withClient(o, async (iot) => {
        if (o.force) await setStatus(iot, name, 'DISABLED');
        const r = await iot.send(new DeleteDomainConfigurationCommand({ domainConfigurationName: name }));
        print(o.json, r, () => `deleted domain configuration ${name}\n`);
      }),
    );

  const certs = domains
    .command('certs')
    .description('server certificates for domain configurations (imported, or issued by the server CA)');
  apiOptions(certs.command('list').description('list server certificates')).action((o: ApiOptions) =>
    withClient(o, async () => {
      const r = await certsCall<{ certificates: Array<Record<string, unknown>> }>(o, 'GET', CERTS);
      print(o.json, r, () =>
        table(
          r.certificates.map((c) => ({
            ...c,
            notAfter: new Date((c.notAfter as number) * 1000),
            inUseBy: (c.inUseBy as string[]).join(','),
          })),
          ['certificateArn', 'domainName', 'origin', 'notAfter', 'inUseBy'],
        ),
      );
    }),
  );
  apiOptions(certs.command('import <certPem> <keyPem>').description('import a server certificate and its key'))
    .option('--chain <pem>', 'intermediate certificates (PEM)')
    .action((certPem: string, keyPem: string, o: ApiOptions & { chain?: string }) =>
      withClient(o, async () => {
        const arn = await importCertificate(o, certPem, keyPem, o.chain);
        print(o.json, { certificateArn: arn }, () => `${arn}\n`);
      }),
    );
  apiOptions(certs.command('delete <arnOrId>').description('delete a server certificate no domain configuration uses')).action(
    (arnOrId: string, o: ApiOptions) =>
      withClient(o, async () => {
        const id = arnOrId.includes('/') ? arnOrId.slice(arnOrId.lastIndexOf('/') + 1) : arnOrId;
        await certsCall(o, 'DELETE', `${CERTS}/${encodeURIComponent(id)}`);
        print(o.json, {}, () => `deleted server certificate ${id}\n`);
      }),
  );
}
