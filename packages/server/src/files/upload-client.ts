/**
 * The client side of `PUT /_thicket/files/{fileName}`, for the CLI and tests. It goes through
 * node:http rather than fetch: Node 20's fetch reads a streamed request body ahead of the socket,
 * so a 1 GiB upload would sit in the client's memory.
 */
import http from 'node:http';
import https from 'node:https';
import { pipeline } from 'node:stream/promises';
import { signedHeaders, type AdminRequest } from '../accounts/admin-client.js';
import { FILES_PATH } from './files-path.js';

export interface Upload {
  content: AsyncIterable<Uint8Array>;
  /** The content's hex SHA-256, which the server checks against what it receives, or UNSIGNED-PAYLOAD. */
  sha256: string;
  contentType: string;
  /** Sent as Content-Length, so that the server can refuse a file too large before it is sent. */
  length: number;
}

/** Uploads `upload` as `fileName`, streaming with backpressure; resolves to the server's answer. */
export async function signedUpload(
  target: Pick<AdminRequest, 'endpoint' | 'region' | 'credentials'>,
  fileName: string,
  upload: Upload,
): Promise<Response> {
  const url = new URL(`${FILES_PATH}/${encodeURIComponent(fileName)}`, target.endpoint);
  // The signer takes the payload hash from x-amz-content-sha256 instead of reading the body.
  const headers = await signedHeaders(target, 'PUT', url, {
    'x-amz-content-sha256': upload.sha256,
    'content-type': upload.contentType,
    'content-length': String(upload.length),
  });
  const request = (url.protocol === 'https:' ? https : http).request(url, { method: 'PUT', headers });
  const answered = new Promise<http.IncomingMessage>((resolve, reject) => request.once('response', resolve).once('error', reject));
  // A failure to send shows as the request's error, or the server answered early and says why.
  void pipeline(upload.content, request).catch(() => {});
  const res = await answered;
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  // Refused before the end of the body (a taken name, say): stop sending what the server discards.
  if (!request.writableFinished) request.destroy();
  const responseHeaders = new Headers();
  for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) responseHeaders.set(k, Array.isArray(v) ? v.join(', ') : v);
  return new Response(Buffer.concat(chunks), { status: res.statusCode, headers: responseHeaders });
}
