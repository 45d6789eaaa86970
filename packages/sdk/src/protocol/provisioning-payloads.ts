/** Fleet provisioning documents (reference dataplane §6). */

/** `$aws/certificates/create/{fmt}` takes an empty payload or `{}`. */
export type CreateKeysAndCertificateRequest = Record<string, never>;

export interface CreateKeysAndCertificateResponse {
  certificateId: string;
  certificatePem: string;
  privateKey: string;
  /** Valid for an hour; an unused certificate is deleted after that. */
  certificateOwnershipToken: string;
}

export interface CreateCertificateFromCsrRequest {
  certificateSigningRequest: string;
}

export interface CreateCertificateFromCsrResponse {
  certificateId: string;
  certificatePem: string;
  certificateOwnershipToken: string;
}

export interface RegisterThingRequest {
  certificateOwnershipToken: string;
  parameters?: Record<string, string>;
}

export interface RegisterThingResponse {
  thingName: string;
  deviceConfiguration?: Record<string, string>;
}

/** `.../rejected`. The errorCode catalogue is not documented by AWS. */
export interface ProvisioningErrorResponse {
  statusCode: number;
  errorCode: string;
  errorMessage: string;
}

export function isProvisioningErrorResponse(v: unknown): v is ProvisioningErrorResponse {
  return typeof v === 'object' && v !== null && typeof (v as ProvisioningErrorResponse).errorCode === 'string';
}
