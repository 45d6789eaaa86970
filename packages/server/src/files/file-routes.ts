/**
 * Thicket's own file API (SigV4, service `iot`), for operators and tools: list, describe and delete
 * files, and issue a presigned download URL. Uploads and downloads stream, so they are served
 * outside the buffered API (file-transfer.ts).
 */
import type { ApiRoute } from '../api/aws-api.js';
import { decodeToken, encodeToken, pageSize } from '../api/pagination.js';
import { invalidRequest } from '../aws/errors.js';
import { FILES_PATH } from './files-path.js';
import { checkExpiresInSec, DEFAULT_URL_EXPIRY_SEC, type FileService } from './file-service.js';

function expiresInSec(raw: string | undefined): number {
  if (raw === undefined || raw === '') return DEFAULT_URL_EXPIRY_SEC;
  if (!/^\d+$/.test(raw)) throw invalidRequest(`expiresInSec must be a whole number of seconds from 60 to 3600, not '${raw}'`);
  return checkExpiresInSec(Number(raw));
}

export function fileRoutes(files: FileService): ApiRoute[] {
  return [
    {
      method: 'GET',
      path: FILES_PATH,
      service: 'iot',
      operation: 'ListFiles',
      readOnly: true,
      handler: async (r) => {
        const size = pageSize(r.query.maxResults, 'maxResults', 250);
        const page = await files.list(r.ctx.ns, size, decodeToken<string>(r.query.nextToken, 'nextToken'));
        return { files: page.files, nextToken: page.last && encodeToken(page.last) };
      },
    },
    {
      method: 'GET',
      path: `${FILES_PATH}/:fileName`,
      service: 'iot',
      operation: 'DescribeFile',
      readOnly: true,
      handler: (r) => files.describe(r.ctx.ns, r.params.fileName!),
    },
    {
      method: 'DELETE',
      path: `${FILES_PATH}/:fileName`,
      service: 'iot',
      operation: 'DeleteFile',
      handler: async (r) => {
        await files.delete(r.ctx.ns, r.params.fileName!);
        return {};
      },
    },
    {
      // Read-only keys may read files, so they may hand out a URL to read one.
      method: 'GET',
      path: `${FILES_PATH}/:fileName/url`,
      service: 'iot',
      operation: 'GetFileUrl',
      readOnly: true,
      handler: (r) => files.presignedUrl(r.ctx.ns, r.params.fileName!, { expiresInSec: expiresInSec(r.query.expiresInSec) }),
    },
  ];
}
