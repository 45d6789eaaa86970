/**
 * What a client of a running server needs (the `thicket` management commands): credentials and
 * signed requests. Kept apart from the package's main entry so that a CLI call does not load the
 * whole server (about a second of startup on every command).
 */
export { parseCredentialsFile, type AccessKey } from './credentials.js';
export { adminRequest, signedFetch, responseError, type AdminRequest } from './accounts/admin-client.js';
export { signedUpload, type Upload } from './files/upload-client.js';
export type { FileInfo } from './files/file-service.js';
export type { FunctionView } from './functions/functions.js';
