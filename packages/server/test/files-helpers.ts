/** Helpers for the file tests: signed uploads and API calls, and plain downloads over HTTP or HTTPS. */
import { createHash } from 'node:crypto';
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { adminRequest, signedUpload, type AccessKey, type FileInfo, type ThicketServer } from '@thicket/server';

export interface UploadOptions {
  /** Default: the content's hex SHA-256. */
  sha256?: string;
  contentType?: string;
  credentials?: AccessKey;
  region?: string;
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

const endpoint = (server: ThicketServer): string => `http://127.0.0.1:${server.ports.http}`;

/** PUT /_thicket/files/{name}, signed; resolves to the raw response. */
export function upload(server: ThicketServer, name: string, body: Buffer, o: UploadOptions = {}): Promise<Response> {
  const target = { endpoint: endpoint(server), region: o.region ?? 'us-east-1', credentials: o.credentials ?? server.adminKey };
  return signedUpload(target, name, {
    content: (async function* () {
      for (let i = 0; i < body.length; i += 65536) yield body.subarray(i, i + 65536);
    })(),
    sha256: o.sha256 ?? sha256(body),
    contentType: o.contentType ?? 'application/octet-stream',
    length: body.length,
  });
}

/** Uploads and returns what the server says of the file; fails the test on an error answer. */
export async function uploaded(server: ThicketServer, name: string, body: Buffer, o: UploadOptions = {}): Promise<FileInfo> {
  const res = await upload(server, name, body, o);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`upload of ${name} answered ${res.status}: ${text}`);
  return JSON.parse(text) as FileInfo;
}

/** A signed call to the file API. */
export function filesApi<T>(
  server: ThicketServer,
  method: 'GET' | 'DELETE',
  path: string,
  query?: Record<string, string>,
  o: { credentials?: AccessKey; region?: string } = {},
): Promise<T> {
  return adminRequest<T>({
    endpoint: endpoint(server),
    region: o.region ?? 'us-east-1',
    credentials: o.credentials ?? server.adminKey,
    method,
    path: `/_thicket/files${path}`,
    query,
  });
}

/** A presigned URL from the API. */
export async function presignedUrl(server: ThicketServer, name: string, expiresInSec = 600, region = 'us-east-1'): Promise<string> {
  return (await filesApi<{ url: string }>(server, 'GET', `/${name}/url`, { expiresInSec: String(expiresInSec) }, { region })).url;
}

export interface Got {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A request without credentials, as a device makes it; HTTPS trusts the server's CA. */
export function get(url: string, ca: string, o: { method?: string; headers?: Record<string, string> } = {}): Promise<Got> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const done = (res: http.IncomingMessage): void => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    };
    const options = { method: o.method ?? 'GET', headers: o.headers };
    const req = u.protocol === 'https:' ? https.request(u, { ...options, ca }, done) : http.request(u, options, done);
    req.on('error', reject);
    req.end();
  });
}

/** The AWS error of a refused download: status, `__type` and message. */
export function refusal(got: Got): { status: number; type: string; message: string } {
  const body = JSON.parse(got.body.toString('utf8')) as { __type: string; message: string };
  return { status: got.status, type: body.__type, message: body.message };
}
