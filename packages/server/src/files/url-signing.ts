/**
 * Presigned download URLs. A device downloading firmware holds no access key, so its URL carries
 * its own proof: an HMAC-SHA256, under a secret only this server knows, of the namespace, the file
 * name and the expiry. The secret is created at first start in `<data-dir>/file-urls.key` (0600);
 * replacing it invalidates every URL handed out.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { join } from 'node:path';
import type { Namespace } from '../accounts/namespace.js';
import { AwsError } from '../aws/errors.js';
import { ensureSecretFile } from '../secret-file.js';

export const URL_SECRET_FILE = 'file-urls.key';

/** What a presigned URL grants: one file of one namespace until `expires` (epoch seconds). */
export interface DownloadGrant {
  ns: Namespace;
  fileName: string;
  expires: number;
  /** The content the URL was issued for: a file deleted and uploaded again under its name is not it. */
  version: string;
}

const denied = (message: string): AwsError => new AwsError('AccessDeniedException', 403, message);

/** Returns the URL-signing secret of `dataDir`, creating it at first start. */
export function ensureUrlSecret(dataDir: string): Buffer {
  return ensureSecretFile(join(dataDir, URL_SECRET_FILE), 'a URL-signing secret', ' (download URLs already handed out then stop working)');
}

export class UrlSigner {
  constructor(private readonly secret: Buffer) {}

  signature(g: DownloadGrant): string {
    // Newline-separated: no part can contain one (account digits, region, file name, number, uuid).
    const message = `thicket-file-url-v2\n${g.ns.accountId}\n${g.ns.region}\n${g.fileName}\n${g.expires}\n${g.version}`;
    return createHmac('sha256', this.secret).update(message).digest('hex');
  }

  /** The download URL of `g` under `baseUrl` (scheme, host and port). Only URL-safe characters: it may sit in a JSON string as it is. */
  url(baseUrl: string, g: DownloadGrant): string {
    const query = new URLSearchParams({
      account: g.ns.accountId,
      region: g.ns.region,
      expires: String(g.expires),
      version: g.version,
      signature: this.signature(g),
    });
    return `${baseUrl.replace(/\/+$/, '')}/_thicket/files/${g.fileName}/content?${query}`;
  }

  /** The grant of a download request's query, or AccessDeniedException saying whether it is unsigned, altered or expired. */
  verify(fileName: string, query: Record<string, string | undefined>, nowMs: number): DownloadGrant {
    const { account, region, expires, version, signature } = query;
    if (!account || !region || !expires || !version || !signature) {
      throw denied(
        'The URL is not signed: a download URL needs the account, region, expires, version and signature parameters of a presigned URL',
      );
    }
    const grant: DownloadGrant = { ns: { accountId: account, region }, fileName, expires: Number(expires), version };
    const given = Buffer.from(signature, 'utf8');
    const expected = Buffer.from(/^\d{1,12}$/.test(expires) ? this.signature(grant) : '', 'utf8');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw denied('The URL signature does not match: the URL was altered, or was not issued by this server');
    }
    const expiredMs = nowMs - grant.expires * 1000;
    if (expiredMs >= 0) {
      throw denied(
        `The URL expired at ${new Date(grant.expires * 1000).toISOString()} (${Math.ceil(expiredMs / 1000)} s ago); ask for a new one`,
      );
    }
    return grant;
  }
}
