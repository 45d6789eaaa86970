/**
 * File names: 1–128 characters of `[a-zA-Z0-9._-]`. None of them needs escaping in a URL path, a
 * JSON string or a shell, which is what lets a presigned URL sit in a job document as it is.
 */
import { invalidRequest } from '../aws/errors.js';

const FILE_NAME = /^[a-zA-Z0-9._-]{1,128}$/;

export function isFileName(name: string): boolean {
  // `.` and `..` are dot segments: URL parsers would fold them out of /_thicket/files/<name>/content.
  return FILE_NAME.test(name) && name !== '.' && name !== '..';
}

/** Returns `name`, or throws InvalidRequestException saying what a file name may be. */
export function checkFileName(name: string): string {
  if (!isFileName(name)) {
    throw invalidRequest(
      `fileName must be 1 to 128 characters of letters, digits, '.', '_' and '-' (and not '.' or '..'), not '${name.slice(0, 200)}'`,
    );
  }
  return name;
}
