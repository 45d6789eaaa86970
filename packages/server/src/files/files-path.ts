/** Where the file API lives; its own module so that the upload client loads without the routes. */
export const FILES_PATH = '/_thicket/files';
