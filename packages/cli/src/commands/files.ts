/** `thicket files upload|list|describe|delete|url`: files for OTA jobs, over Thicket's own file API. */
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { basename } from 'node:path';
import type { Command } from 'commander';
import { adminRequest, responseError, signedUpload, type AdminRequest, type FileInfo } from '@thicket/server/client';
import { apiOptions, credentials, withApi, type ApiOptions } from '../api-client.js';
import { fields, print, table } from '../output.js';
import { all } from './registry.js';

const FILES = '/_thicket/files';
const COLUMNS = ['fileName', 'size', 'sha256', 'contentType', 'createdAt'];

/** The file API for withApi, which turns its failures into one readable line. */
class FilesApi {
  constructor(private readonly o: ApiOptions) {}

  call<T>(method: AdminRequest['method'], path: string, query?: Record<string, string>): Promise<T> {
    return adminRequest<T>({ ...this.target(), method, path, query });
  }

  /** Reads the file twice: once for its digest, which the server then checks the streamed upload against. */
  async upload(path: string, name: string, contentType: string): Promise<FileInfo> {
    const length = fileSize(path);
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
    const res = await signedUpload(this.target(), name, {
      content: createReadStream(path),
      sha256: hash.digest('hex'),
      contentType,
      length,
    });
    if (!res.ok) throw await responseError(res);
    return (await res.json()) as FileInfo;
  }

  destroy(): void {}

  private target(): Pick<AdminRequest, 'endpoint' | 'region' | 'credentials'> {
    return { endpoint: this.o.endpoint, region: this.o.region, credentials: credentials(this.o) };
  }
}

function fileSize(path: string): number {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`, {
      cause: err,
    });
  }
  if (!st.isFile()) throw new Error(`${path} is not a file`);
  return st.size;
}

/** Timestamps as dates for the tables (the API gives epoch seconds, as AWS does). */
const dated = (f: FileInfo): Record<string, unknown> => ({ ...f, createdAt: new Date(f.createdAt * 1000) });

const withFiles = <T>(o: ApiOptions, fn: (api: FilesApi) => Promise<T>): Promise<T> => withApi(o, (opts) => new FilesApi(opts), fn);

export function registerFiles(program: Command): void {
  const files = program.command('files').description('files for OTA jobs (firmware), downloaded by devices through presigned URLs');

  apiOptions(files.command('upload <path>').description('upload a file (streamed; up to 1 GiB)'))
    .option('--name <fileName>', 'the name to store it under (default: the file name of <path>)')
    .option('--content-type <type>', 'the Content-Type downloads are served with', 'application/octet-stream')
    .action((path: string, o: ApiOptions & { name?: string; contentType: string }) =>
      withFiles(o, async (api) => {
        const f = await api.upload(path, o.name ?? basename(path), o.contentType);
        print(o.json, f, () => fields(dated(f), ['fileName', 'size', 'sha256']));
      }),
    );

  apiOptions(files.command('list').description('list files')).action((o: ApiOptions) =>
    withFiles(o, async (api) => {
      const list = await all<FileInfo>(async (nextToken) => {
        const page = await api.call<{ files: FileInfo[]; nextToken?: string }>('GET', FILES, nextToken ? { nextToken } : undefined);
        return { items: page.files, next: page.nextToken };
      });
      print(o.json, { files: list }, () => table(list.map(dated), COLUMNS));
    }),
  );

  apiOptions(files.command('describe <fileName>').description('show a file')).action((name: string, o: ApiOptions) =>
    withFiles(o, async (api) => {
      const f = await api.call<FileInfo>('GET', `${FILES}/${encodeURIComponent(name)}`);
      print(o.json, f, () => fields(dated(f), COLUMNS));
    }),
  );

  apiOptions(files.command('delete <fileName>').description('delete a file')).action((name: string, o: ApiOptions) =>
    withFiles(o, async (api) => {
      await api.call('DELETE', `${FILES}/${encodeURIComponent(name)}`);
      print(o.json, {}, () => `deleted file ${name}\n`);
    }),
  );

  apiOptions(files.command('url <fileName>').description('print a presigned download URL (no credentials needed to use it)'))
    .option('--expires-in <seconds>', 'how long the URL works: 60 to 3600', '3600')
    .action((name: string, o: ApiOptions & { expiresIn: string }) =>
      withFiles(o, async (api) => {
        const r = await api.call<{ url: string; expiresAt: number }>('GET', `${FILES}/${encodeURIComponent(name)}/url`, {
          expiresInSec: o.expiresIn,
        });
        print(o.json, r, () => `${r.url}\n`);
      }),
    );
}
