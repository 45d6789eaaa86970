export { startServer, createLogger, type ThicketServer, type ServerPorts } from './server.js';
export {
  resolveConfig,
  configFromEnv,
  configFromFile,
  parsePort,
  DEFAULTS,
  type ServerConfig,
  type ConfigInput,
  type Profile,
  type LogFormat,
} from './config.js';
export { ensureAdminCredentials, parseCredentialsFile, formatCredentialsFile, type AccessKey } from './credentials.js';
export * from './pki/index.js';
export { adminRequest, signedFetch, responseError, type AdminRequest } from './accounts/admin-client.js';
export { fileReferences, FileService, signedUpload, type FileInfo, type Upload } from './files/index.js';
export type { FunctionView } from './functions/functions.js';
