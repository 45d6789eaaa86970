/**
 * File placeholders in job documents, Thicket's counterpart of AWS's
 * `${aws:iot:s3-presigned-url:...}`: `${thicket:PresignedUrl:<fileName>}`,
 * `${thicket:FileSha256:<fileName>}` and `${thicket:FileSize:<fileName>}`. They are replaced when a
 * document is handed to a device, so that each device gets a URL that has not expired yet.
 */

export type PlaceholderKind = 'PresignedUrl' | 'FileSha256' | 'FileSize';

const PLACEHOLDER = /\$\{thicket:(PresignedUrl|FileSha256|FileSize):([^}]*)\}/g;

/** The file names a document's placeholders refer to, each once, in order of appearance. */
export function fileReferences(documentText: string): string[] {
  return [...new Set(Array.from(documentText.matchAll(PLACEHOLDER), (m) => m[2]!))];
}

/** Replaces each placeholder with `value(kind, fileName)`. */
export function replacePlaceholders(documentText: string, value: (kind: PlaceholderKind, fileName: string) => string): string {
  return documentText.replace(PLACEHOLDER, (_all, kind: PlaceholderKind, fileName: string) => value(kind, fileName));
}
