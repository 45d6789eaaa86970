/** A SigV4-signed JSON request to Thicket's own admin API (which the AWS SDKs do not model). */
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AccessKey } from '../credentials.js';

export interface AdminRequest {
  endpoint: string;
  region: string;
  credentials: AccessKey;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Record<string, string>;
  body?: unknown;
  /** More headers to send (and sign), such as CreateTopicRule's `x-amz-tagging`. */
  headers?: Record<string, string>;
}

/** The headers of a request to `url` signed with SigV4 for service `iot`; `body` undefined when x-amz-content-sha256 gives its hash. */
export async function signedHeaders(
  r: Pick<AdminRequest, 'region' | 'credentials'>,
  method: string,
  url: URL,
  headers: Record<string, string>,
  body?: string,
): Promise<Record<string, string>> {
  const signer = new SignatureV4({ credentials: r.credentials, region: r.region, service: 'iot', sha256: Sha256 });
  const signed = await signer.sign({
    method,
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port ? Number(url.port) : undefined,
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    headers: { host: url.host, ...headers },
    body,
  });
  return signed.headers as Record<string, string>;
}

/** Sends a SigV4-signed request (service `iot`) and returns the raw response, e.g. to read a stream. */
export async function signedFetch(r: AdminRequest, signal?: AbortSignal): Promise<Response> {
  const url = new URL(r.path, r.endpoint);
  for (const [k, v] of Object.entries(r.query ?? {})) url.searchParams.set(k, v);
  const body = r.body === undefined ? undefined : JSON.stringify(r.body);
  const headers = await signedHeaders(r, r.method, url, { ...(body ? { 'content-type': 'application/json' } : {}), ...r.headers }, body);
  return fetch(url, { method: r.method, headers, body, signal });
}

/** The AWS-shaped error of a failed response, as one line. */
export async function responseError(res: Response): Promise<Error> {
  const text = await res.text();
  let json: { __type?: string; message?: string } = {};
  try {
    json = JSON.parse(text) as typeof json;
  } catch {}
  return new Error(`${res.headers.get('x-amzn-errortype') ?? json.__type ?? `HTTP ${res.status}`}: ${json.message ?? text}`);
}

export async function adminRequest<T>(r: AdminRequest): Promise<T> {
  const res = await signedFetch(r);
  if (!res.ok) throw await responseError(res);
  const text = await res.text();
  return (text ? JSON.parse(text) : {}) as T;
}
