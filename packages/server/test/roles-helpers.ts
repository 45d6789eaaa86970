/** Helpers of the roles tests: the roles API, the credentials endpoint over HTTPS, clients with temporary credentials. */
import { request } from 'node:https';
import { IoTClient } from '@aws-sdk/client-iot';
import { IoTDataPlaneClient } from '@aws-sdk/client-iot-data-plane';
import { adminRequest, type ThicketServer } from '@thicket/server';
import { tlsOptions } from './helpers.js';

export interface TemporaryCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: string;
}

export const policy = (statements: object[]): string => JSON.stringify({ Version: '2012-10-17', Statement: statements });

/** Calls Thicket's roles API (SigV4 with the admin key unless `credentials` are given). */
export function rolesApi<T = Record<string, unknown>>(
  server: ThicketServer,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  body?: unknown,
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } = server.adminKey,
): Promise<T> {
  return adminRequest<T>({ endpoint: `http://127.0.0.1:${server.ports.http}`, region: 'us-east-1', credentials, method, path, body });
}

export function createRole(server: ThicketServer, name: string, document: string, extra: Record<string, unknown> = {}) {
  return rolesApi<{ role: { roleArn: string; roleId: string } }>(server, 'POST', `/_thicket/roles/${name}`, {
    policyDocument: document,
    ...extra,
  });
}

/** GET /role-aliases/{alias}/credentials over HTTPS with a device certificate (or none). */
export function credentialsRequest(
  server: ThicketServer,
  device: { cert: string; key: string } | undefined,
  alias: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; errorType: string | undefined; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: server.ports.https!,
        method: 'GET',
        path: `/role-aliases/${alias}/credentials`,
        headers,
        ...(device ? tlsOptions(server, device) : { ca: server.pki.caCertPem, servername: 'localhost' }),
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            errorType: res.headers['x-amzn-errortype'] as string | undefined,
            body: JSON.parse(text) as Record<string, unknown>,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Issues credentials and fails the test unless the endpoint answers 200. */
export async function issue(
  server: ThicketServer,
  device: { cert: string; key: string },
  alias: string,
  headers: Record<string, string> = {},
): Promise<TemporaryCredentials> {
  const r = await credentialsRequest(server, device, alias, headers);
  if (r.status !== 200) throw new Error(`credentials endpoint answered ${r.status}: ${JSON.stringify(r.body)}`);
  return (r.body as { credentials: TemporaryCredentials }).credentials;
}

/** What the SDKs take (their `expiration` is a Date; the endpoint's is text). */
const keyOf = (c: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }) => ({
  accessKeyId: c.accessKeyId,
  secretAccessKey: c.secretAccessKey,
  sessionToken: c.sessionToken,
});

export function iotAs(server: ThicketServer, c: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }): IoTClient {
  return new IoTClient({ endpoint: `http://127.0.0.1:${server.ports.http}`, region: 'us-east-1', credentials: keyOf(c), maxAttempts: 1 });
}

export function dataAs(
  server: ThicketServer,
  c: { accessKeyId: string; secretAccessKey: string; sessionToken?: string },
): IoTDataPlaneClient {
  return new IoTDataPlaneClient({
    endpoint: `http://127.0.0.1:${server.ports.http}`,
    region: 'us-east-1',
    credentials: keyOf(c),
    maxAttempts: 1,
  });
}
