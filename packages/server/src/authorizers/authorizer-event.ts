/**
 * The AWS authorizer function contract (reference dataplane §5.2): the event an authorizer function
 * receives and the response it returns, checked as strictly as AWS checks a Lambda's answer.
 */
import { parsePolicyDocument, PolicyDocumentError, type PolicyDocument } from '../policies/engine/index.js';
import { MAX_AUTHORIZER_LIFETIME_SECONDS, MIN_AUTHORIZER_LIFETIME_SECONDS } from './function-target.js';

export type AuthProtocol = 'tls' | 'http' | 'mqtt';

/** Only the fields relevant to the connection are present, as on AWS. */
export interface AuthorizerEvent {
  token?: string;
  signatureVerified: boolean;
  protocols: AuthProtocol[];
  protocolData: {
    tls?: { serverName?: string };
    http?: { headers: Record<string, string>; queryString: string };
    /** `password` is base64; `clientId` only when the device sent one. */
    mqtt?: { username?: string; password?: string; clientId?: string };
  };
  connectionMetadata: { id: string };
}

export interface AuthorizerEventInput {
  token: string | undefined;
  signatureVerified: boolean;
  protocols: AuthProtocol[];
  tls?: { serverName?: string };
  http?: { headers: Record<string, string>; queryString: string };
  mqtt?: { username?: string; password?: Buffer; clientId?: string };
  connectionId: string;
}

export function buildAuthorizerEvent(i: AuthorizerEventInput): AuthorizerEvent {
  const protocolData: AuthorizerEvent['protocolData'] = {};
  if (i.tls) protocolData.tls = i.tls.serverName === undefined ? {} : { serverName: i.tls.serverName };
  if (i.http) protocolData.http = { headers: i.http.headers, queryString: i.http.queryString };
  if (i.mqtt) {
    const mqtt: NonNullable<AuthorizerEvent['protocolData']['mqtt']> = {};
    if (i.mqtt.username !== undefined) mqtt.username = i.mqtt.username;
    if (i.mqtt.password !== undefined) mqtt.password = i.mqtt.password.toString('base64');
    if (i.mqtt.clientId) mqtt.clientId = i.mqtt.clientId;
    protocolData.mqtt = mqtt;
  }
  return {
    ...(i.token !== undefined ? { token: i.token } : {}),
    signatureVerified: i.signatureVerified,
    protocols: i.protocols,
    protocolData,
    connectionMetadata: { id: i.connectionId },
  };
}

/** A checked answer of an authorizer function. */
export interface AuthorizerResult {
  isAuthenticated: boolean;
  principalId: string | undefined;
  /** The documents as JSON text (what TestInvokeAuthorizer returns)... */
  policyDocuments: string[];
  /** ...and parsed. */
  documents: PolicyDocument[];
  disconnectAfterInSeconds: number | undefined;
  refreshAfterInSeconds: number | undefined;
}

export class InvalidAuthorizerResponse extends Error {
  override readonly name = 'InvalidAuthorizerResponse';
}

export const PRINCIPAL_ID = /^[a-zA-Z0-9]{1,128}$/;
export const MAX_POLICY_DOCUMENTS = 10;

const bad = (message: string): never => {
  throw new InvalidAuthorizerResponse(message);
};

function lifetime(value: unknown, name: string, strict: boolean): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) return strict ? bad(`${name} must be a whole number of seconds`) : undefined;
  if (strict && (value < MIN_AUTHORIZER_LIFETIME_SECONDS || value > MAX_AUTHORIZER_LIFETIME_SECONDS)) {
    bad(`${name} must be from ${MIN_AUTHORIZER_LIFETIME_SECONDS} to ${MAX_AUTHORIZER_LIFETIME_SECONDS}, not ${value}`);
  }
  return value;
}

/**
 * Checks a function's answer. A refusal (`isAuthenticated: false`) is a valid answer whatever else it
 * carries (functions commonly send `principalId: "denied"` and zero lifetimes with it); an acceptance
 * must have a valid principal id, lifetimes in 300..86400 when given, and at most 10 valid policy
 * documents of at most 2048 non-whitespace characters each. Documents may be JSON strings (the
 * documented form) or objects (what many Lambda handlers return, and AWS accepts).
 */
export function parseAuthorizerResponse(value: unknown): AuthorizerResult {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return bad('the response must be a JSON object');
  const r = value as Record<string, unknown>;
  if (typeof r.isAuthenticated !== 'boolean') return bad('isAuthenticated must be true or false');
  if (!r.isAuthenticated) {
    return {
      isAuthenticated: false,
      principalId: typeof r.principalId === 'string' ? r.principalId : undefined,
      policyDocuments: [],
      documents: [],
      disconnectAfterInSeconds: lifetime(r.disconnectAfterInSeconds, 'disconnectAfterInSeconds', false),
      refreshAfterInSeconds: lifetime(r.refreshAfterInSeconds, 'refreshAfterInSeconds', false),
    };
  }
  if (typeof r.principalId !== 'string' || !PRINCIPAL_ID.test(r.principalId)) {
    bad(`principalId must match [a-zA-Z0-9]{1,128}, not ${JSON.stringify(r.principalId)}`);
  }
  const raw = r.policyDocuments ?? [];
  if (!Array.isArray(raw)) return bad('policyDocuments must be a list of policy documents');
  if (raw.length > MAX_POLICY_DOCUMENTS) bad(`policyDocuments may hold at most ${MAX_POLICY_DOCUMENTS} documents, not ${raw.length}`);
  const policyDocuments: string[] = [];
  const documents: PolicyDocument[] = [];
  raw.forEach((d: unknown, i) => {
    const text =
      typeof d === 'string'
        ? d
        : d !== null && typeof d === 'object' && !Array.isArray(d)
          ? JSON.stringify(d)
          : bad(`policyDocuments[${i}] must be a policy document`);
    try {
      documents.push(parsePolicyDocument(text));
    } catch (err) {
      if (err instanceof PolicyDocumentError) bad(`policyDocuments[${i}]: ${err.message}`);
      throw err;
    }
    policyDocuments.push(text);
  });
  return {
    isAuthenticated: true,
    principalId: r.principalId as string,
    policyDocuments,
    documents,
    disconnectAfterInSeconds: lifetime(r.disconnectAfterInSeconds, 'disconnectAfterInSeconds', true),
    refreshAfterInSeconds: lifetime(r.refreshAfterInSeconds, 'refreshAfterInSeconds', true),
  };
}
