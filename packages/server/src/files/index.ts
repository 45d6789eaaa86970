export {
  FileService,
  MAX_FILE_BYTES,
  DEFAULT_URL_EXPIRY_SEC,
  type FileInfo,
  type FileServiceOptions,
  type PresignOptions,
  type UploadOptions,
} from './file-service.js';
export { fileRoutes } from './file-routes.js';
export { FILES_PATH } from './files-path.js';
export { registerFileTransfer, type FileTransferDeps } from './file-transfer.js';
export { fileReferences } from './placeholders.js';
export { URL_SECRET_FILE } from './url-signing.js';
export { signedUpload, type Upload } from './upload-client.js';
