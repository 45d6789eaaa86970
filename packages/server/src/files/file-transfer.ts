/**
 * The two file routes whose bodies stream and so bypass the buffered API (1 MB bodies):
 * `PUT /_thicket/files/{fileName}` uploads (SigV4 `iot`, x-amz-content-sha256 UNSIGNED-PAYLOAD or the
 * body's hex digest, which is then checked against the bytes), and
 * `GET|HEAD /_thicket/files/{fileName}/content?<presigned>` downloads, with Range for resuming.
 */
import { randomUUID } from 'node:crypto';
import type { OpenedContent } from './content-directory.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { AccountStore } from '../accounts/account-store.js';
import { authenticate, firstValue, replyWithError } from '../api/aws-api.js';
import { AwsError, invalidRequest, sendAwsError } from '../aws/errors.js';
import { byteRange } from './byte-range.js';
import { FILES_PATH } from './files-path.js';
import type { FileService } from './file-service.js';

export interface FileTransferDeps {
  files: FileService;
  accounts: AccountStore;
  log: Logger;
}

const header = (req: FastifyRequest, name: string): string | undefined => firstValue(req.headers[name]);

export function registerFileTransfer(app: FastifyInstance, deps: FileTransferDeps): void {
  // A scope of its own, so that its body handling (none: the upload reads the raw request stream)
  // leaves the API's buffered bodies as they are.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, _payload, done) => done(null));
    // What Fastify itself refuses before a handler runs (a malformed content-type), in the AWS shape.
    scope.setErrorHandler((err: { statusCode?: number; message: string }, _req, reply) => {
      const status = err.statusCode ?? 500;
      return sendAwsError(reply, new AwsError(status < 500 ? 'InvalidRequestException' : 'InternalFailureException', status, err.message));
    });
    scope.put(`${FILES_PATH}/:fileName`, (req, reply) => upload(req, reply, deps));
    scope.route({ method: ['GET', 'HEAD'], url: `${FILES_PATH}/:fileName/content`, handler: (req, reply) => download(req, reply, deps) });
  });
}

/** The digest the client declared: undefined for UNSIGNED-PAYLOAD. */
function declaredSha256(value: string | undefined): string | undefined {
  const v = (value ?? '').toLowerCase();
  if (v === 'unsigned-payload') return undefined;
  if (/^[0-9a-f]{64}$/.test(v)) return v;
  throw invalidRequest(
    `x-amz-content-sha256 must be UNSIGNED-PAYLOAD or the hex SHA-256 of the body, not '${value}' (aws-chunked uploads are not supported)`,
  );
}

function declaredLength(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw invalidRequest(`content-length must be a number of bytes, not '${value}'`);
  return Number(value);
}

async function upload(req: FastifyRequest, reply: FastifyReply, deps: FileTransferDeps): Promise<FastifyReply> {
  const requestId = randomUUID();
  reply.header('x-amzn-RequestId', requestId);
  try {
    // No body for the signature check: authenticate then requires a signed x-amz-content-sha256.
    const { ctx } = await authenticate(req, undefined, deps.accounts);
    if (ctx.service !== 'iot') {
      throw new AwsError(
        'InvalidSignatureException',
        403,
        `Credential should be scoped to correct service: uploads are signed for 'iot', not '${ctx.service}'`,
      );
    }
    if (ctx.key?.readOnly)
      throw new AwsError('AccessDeniedException', 403, `access key ${ctx.key.accessKeyId} is read-only; UploadFile changes state`);
    const file = await deps.files.upload(ctx.ns, (req.params as { fileName: string }).fileName, req.raw, {
      contentType: header(req, 'content-type'),
      sha256: declaredSha256(header(req, 'x-amz-content-sha256')),
      length: declaredLength(header(req, 'content-length')),
    });
    return reply.header('content-type', 'application/json').send(JSON.stringify(file));
  } catch (err) {
    // The client went away mid-upload, or the body outgrew the limit and the connection was cut:
    // nobody is left to answer, and it is not the server's failure.
    if (req.raw.socket.destroyed) {
      deps.log.debug({ requestId, url: req.url.split('?')[0], reason: (err as Error).message }, 'upload interrupted');
      reply.hijack();
      return reply;
    }
    return replyWithError(req, reply, err, requestId, deps.log);
  }
}

async function download(req: FastifyRequest, reply: FastifyReply, deps: FileTransferDeps): Promise<FastifyReply> {
  const requestId = randomUUID();
  reply.header('x-amzn-RequestId', requestId);
  let content: OpenedContent | undefined;
  try {
    const query: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(req.query as Record<string, string | string[]>)) query[k] = firstValue(v);
    const opened = await deps.files.openDownload((req.params as { fileName: string }).fileName, query);
    content = opened.content;
    const { file } = opened;
    const etag = `"${file.sha256}"`;
    reply
      .header('content-type', file.contentType)
      .header('etag', etag)
      .header('last-modified', new Date(file.createdAt).toUTCString())
      .header('accept-ranges', 'bytes')
      .header('cache-control', 'private');
    const range = byteRange(header(req, 'range'), file.size, header(req, 'if-range'), etag);
    if (range === 'unsatisfiable') {
      reply.header('content-range', `bytes */${file.size}`);
      throw new AwsError('InvalidRange', 416, `The requested range is not satisfiable: the file has ${file.size} bytes`);
    }
    if (range) reply.code(206).header('content-range', `bytes ${range.start}-${range.end}/${file.size}`);
    // The digest of the whole file, so only with the whole file (S3 sends it base64, as here).
    else reply.header('x-amz-checksum-sha256', Buffer.from(file.sha256, 'hex').toString('base64'));
    const { start, end } = range ?? { start: 0, end: file.size - 1 };
    reply.header('content-length', String(end - start + 1));
    if (req.method === 'HEAD' || file.size === 0) return reply.send();
    const body = content.stream(start, end);
    content = undefined; // the stream closes it
    return reply.send(body);
  } catch (err) {
    return replyWithError(req, reply, err, requestId, deps.log);
  } finally {
    await content?.close();
  }
}
