export {
  FileService,
  MAX_FILE_BYTES,
  DEFAULT_URL_EXPIRY_SEC,
  type FileInfo,
  type FileServiceOptions,
  type PresignOptions,
  type UploadOptions,
} from './file-service.js';
export { fileRoutes, FILES_PATH } from './file-routes.js';
export { registerFileTransfer, type FileTransferDeps } from './file-transfer.js';
export { fileReferences } from './placeholders.js';
export { URL_SECRET_FILE } from './url-signing.js';
export { signedUpload, type Upload } from './upload-client.js';
