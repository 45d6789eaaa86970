/**
 * `s3`: AWS's action shape, writing the rule's output as a file of Thicket's file store (the one
 * OTA jobs use) in the rule's namespace. Bucket and key map to one file name,
 * `<bucketName>_<key>` with each `/` of the key written as `.` (file names have no `/`); `_` cannot
 * occur in a bucket name, so a bucket's files are exactly those whose name starts `<bucketName>_`.
 * A put replaces the file of that name, as an S3 put replaces the object; binary output is stored
 * as its raw bytes.
 */
import { Readable } from 'node:stream';
import { AwsError } from '../../aws/errors.js';
import { isFileName } from '../../files/file-names.js';
import { ActionError, oneOf, requiredString, type ActionKind, type ActionMessage } from './types.js';

const CANNED_ACLS = [
  'private',
  'public-read',
  'public-read-write',
  'aws-exec-read',
  'authenticated-read',
  'bucket-owner-read',
  'bucket-owner-full-control',
  'log-delivery-write',
] as const;

/** S3's bucket naming rules (general purpose buckets). */
export function bucketNameError(bucket: string): string | undefined {
  if (bucket.length < 3 || bucket.length > 63) return 'a bucket name has 3 to 63 characters';
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(bucket)) {
    return "a bucket name is lowercase letters, digits, '.' and '-', and starts and ends with a letter or digit";
  }
  if (bucket.includes('..')) return "a bucket name has no two adjacent '.'";
  if (/^\d+\.\d+\.\d+\.\d+$/.test(bucket)) return 'a bucket name is not an IP address';
  return undefined;
}

/** The file an object is stored as. */
export function objectFileName(bucket: string, key: string): string {
  return `${bucket}_${key.replaceAll('/', '.')}`;
}

export const s3: ActionKind = {
  key: 's3',
  awsName: 'S3Action',
  build(b) {
    requiredString(b, 'roleArn');
    const bucket = b.template(requiredString(b, 'bucketName'), 'bucketName');
    const key = b.template(requiredString(b, 'key'), 'key');
    // Accepted as AWS accepts it; a file has no ACL of its own (downloads go through presigned URLs).
    oneOf(b, 'cannedAcl', CANNED_ACLS);
    const files = b.services.files;
    return {
      resource: `${bucket.text}/${key.text}`,
      async run(m: ActionMessage) {
        const bucketName = await m.render(bucket);
        const objectKey = await m.render(key);
        const resource = `${bucketName}/${objectKey}`;
        if (!files) throw new ActionError('The file store is not available on this server', resource);
        const bad = bucketNameError(bucketName);
        if (bad) throw new ActionError(`The bucket name '${bucketName.slice(0, 100)}' is not valid: ${bad}`, resource);
        if (objectKey === '') throw new ActionError('The key template rendered an empty key', resource);
        const fileName = objectFileName(bucketName, objectKey);
        if (!isFileName(fileName)) {
          throw new ActionError(
            `Cannot store object '${resource.slice(0, 200)}': its file name '${fileName.slice(0, 200)}' must be 1 to 128 characters of letters, digits, '.', '_' and '-' (the key's '/' are written as '.')`,
            resource,
          );
        }
        try {
          await files.upload(m.ns, fileName, Readable.from([m.payload]), {
            contentType: m.json ? 'application/json' : 'application/octet-stream',
            length: m.payload.length,
            replace: true,
          });
        } catch (err) {
          if (err instanceof AwsError)
            throw new ActionError(`Cannot store object '${resource}' as file '${fileName}': ${err.message}`, resource);
          throw err;
        }
      },
    };
  },
};
