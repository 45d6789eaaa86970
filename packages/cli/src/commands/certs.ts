/** `thicket certs issue`: a client certificate signed by the server's CA, for trying mutual TLS at once. */
import type { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ensurePki, issueClientCertificate } from '@thicket/server';

interface IssueFlags {
  dataDir: string;
  out?: string;
  days: string;
  host: string;
  port: string;
}

export function registerCerts(program: Command): void {
  const certs = program.command('certs').description('certificates signed by the server CA');
  certs
    .command('issue <clientId>')
    .description('issue a client certificate and key for <clientId> (written to a folder, with the CA and a ready-to-run command)')
    .option('--data-dir <dir>', 'the server data directory holding the CA', './data')
    .option('--out <dir>', 'output folder (default ./certs/<clientId>)')
    .option('--days <n>', 'validity in days', '365')
    .option('--host <host>', 'server host for the printed command', 'localhost')
    .option('--port <port>', 'MQTT over TLS port for the printed command', '8883')
    .action(async (clientId: string, flags: IssueFlags) => {
      const days = Number(flags.days);
      if (!Number.isInteger(days) || days < 1) throw new Error(`--days: "${flags.days}" is not a positive whole number`);
      const pki = await ensurePki(resolve(flags.dataDir), { hostnames: ['localhost'] });
      const issued = await issueClientCertificate(pki, { commonName: clientId, days });
      const out = resolve(flags.out ?? join('certs', clientId.replace(/[^A-Za-z0-9._-]/g, '_')));
      mkdirSync(out, { recursive: true, mode: 0o700 });
      const cert = join(out, 'certificate.pem');
      const key = join(out, 'private.key');
      const ca = join(out, 'ca.pem');
      writeFileSync(cert, issued.certificatePem);
      writeFileSync(key, issued.privateKeyPem ?? '', { mode: 0o600 });
      writeFileSync(ca, pki.caCertPem);
      const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
      process.stdout.write(
        [
          `Issued a certificate for client id ${clientId} (certificate id ${issued.certificateId})`,
          `  ${cert}`,
          `  ${key}`,
          `  ${ca}`,
          '',
          'Subscribe with it:',
          `  npx mqtt sub -t '#' -h ${flags.host} -p ${flags.port} -l mqtts -i ${q(clientId)} --cert ${q(cert)} --key ${q(key)} --ca ${q(ca)} -v`,
          `  mosquitto_sub -t '#' -h ${flags.host} -p ${flags.port} -i ${q(clientId)} --cert ${q(cert)} --key ${q(key)} --cafile ${q(ca)} -v`,
          '',
        ].join('\n'),
      );
    });
}
