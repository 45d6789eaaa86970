/**
 * Fleet provisioning (reference dataplane §6, controlplane §8.1): certificates for devices that
 * prove nothing yet but a claim, the template run that turns one into a thing with an ACTIVE
 * certificate and its policies (over MQTT, with the pre-provisioning hook), RegisterThing over HTTP,
 * CreateProvisioningClaim for a trusted user, and the sweep of what expired unused.
 */
import { X509Certificate } from 'node:crypto';
import type { CreateCertificateFromCsrResponse, CreateKeysAndCertificateResponse, RegisterThingResponse } from '@thicket/sdk/protocol';
import type { Logger } from 'pino';
import { iotArn, type Namespace } from '../accounts/namespace.js';
import { AwsError, invalidRequest, notFound } from '../aws/errors.js';
import { certArn } from '../certificates/certificates.js';
import { BACKDATE_MS } from '../pki/index.js';
import type { Services } from '../platform/capability.js';
import type { PendingCertificates } from './pending-certificates.js';
import { CLAIM_VALIDITY_MS } from './pending-certificates.js';
import { ProvisioningError, usedToken, type Provisioner } from './provisioner.js';
import { parseTemplate, resolveTemplate, type Provisioning } from './template-body.js';
import { TemplateError } from './template-intrinsics.js';
import { templateArn, type Templates } from './templates.js';

/** AWS gives a pre-provisioning hook five seconds. */
const HOOK_TIMEOUT_MS = 5000;

export interface FleetDeps {
  templates: Templates;
  pending: PendingCertificates;
  provisioner: Provisioner;
  certificates(): Services['certificates'];
  policies(): Services['policies'];
  functions(): Services['functions'] | undefined;
  log: Logger;
}

/** Who asks, over MQTT: the claim certificate's id (undefined for a client that has none). */
export interface Requester {
  clientId: string;
  certificateId: string | undefined;
}

const denied = (message: string) => new ProvisioningError('AccessDenied', 403, message);

function stringMap(v: unknown, what: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v))
    throw new ProvisioningError('InvalidParameters', 400, `${what} must be a map of names to strings`);
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string') throw new ProvisioningError('InvalidParameters', 400, `${what}.${k} must be a string`);
    out[k] = x;
  }
  return out;
}

/**
 * Certificates made over MQTT and not provisioned yet, per account and region: each costs a key
 * pair and a row for an hour, and a claim certificate is shared by a whole factory, so this bounds
 * what a leaked one can make.
 */
export const MAX_OUTSTANDING = 10_000;

export class FleetProvisioning {
  /** Limits, changeable for tests. */
  maxOutstanding = MAX_OUTSTANDING;

  constructor(private readonly deps: FleetDeps) {}

  private async roomFor(ns: Namespace): Promise<void> {
    if ((await this.deps.pending.outstanding(ns)) >= this.maxOutstanding) {
      throw new ProvisioningError(
        'ThrottlingException',
        429,
        `The account has ${this.maxOutstanding} certificates made for provisioning and not yet provisioned; try again once some are provisioned or expired`,
      );
    }
  }

  /** `$aws/certificates/create`: a key pair and a PENDING_ACTIVATION certificate with its ownership token. */
  async createKeysAndCertificate(ns: Namespace): Promise<CreateKeysAndCertificateResponse> {
    await this.roomFor(ns);
    const { row, privateKey } = await this.deps.certificates().certificates.issue(ns, { status: 'PENDING_ACTIVATION' });
    const token = await this.deps.pending.owned(ns, row.certificateId);
    return { certificateId: row.certificateId, certificatePem: row.pem, privateKey: privateKey!, certificateOwnershipToken: token };
  }

  /** `$aws/certificates/create-from-csr`. */
  async createCertificateFromCsr(ns: Namespace, body: Record<string, unknown>): Promise<CreateCertificateFromCsrResponse> {
    const csr = body.certificateSigningRequest;
    if (typeof csr !== 'string' || csr.length === 0) {
      throw new ProvisioningError('InvalidParameters', 400, 'certificateSigningRequest is required');
    }
    await this.roomFor(ns);
    let issued;
    try {
      issued = await this.deps.certificates().certificates.issue(ns, { status: 'PENDING_ACTIVATION', csr });
    } catch (err) {
      if (err instanceof AwsError && err.status < 500) throw new ProvisioningError('InvalidParameters', 400, err.message);
      throw err;
    }
    const token = await this.deps.pending.owned(ns, issued.row.certificateId);
    return { certificateId: issued.row.certificateId, certificatePem: issued.row.pem, certificateOwnershipToken: token };
  }

  /** `$aws/provisioning-templates/{name}/provision`: the device's thing, certificate and policies. */
  async registerThing(ns: Namespace, templateName: string, body: Record<string, unknown>, who: Requester): Promise<RegisterThingResponse> {
    const token = body.certificateOwnershipToken;
    // AWS's words.
    if (typeof token !== 'string' || token === '') {
      throw new ProvisioningError('InvalidCertificateOwnershipToken', 400, 'Certificate ownership token cannot be empty.');
    }
    let parameters = stringMap(body.parameters, 'parameters');
    const row = this.deps.templates.store.template(ns, templateName);
    if (!row) throw new ProvisioningError('ResourceNotFound', 404, `The provisioning template ${templateName} does not exist`);
    if (row.type !== 'FLEET_PROVISIONING') {
      throw new ProvisioningError(
        'InvalidParameters',
        400,
        `The provisioning template ${templateName} is a ${row.type} template, not a fleet provisioning template`,
      );
    }
    if (!row.enabled) throw denied(`The provisioning template ${templateName} is disabled`);
    const certificateId = await this.deps.pending.certificateOf(ns, token);
    const owned = certificateId === undefined ? undefined : this.deps.certificates().store.certificate(ns, certificateId);
    if (!owned || owned.status !== 'PENDING_ACTIVATION') throw usedToken();

    if (row.hook) {
      const answer = await this.hook(ns, row.hook.targetArn, {
        claimCertificateId: who.certificateId,
        certificateId: owned.certificateId,
        certificatePem: owned.pem,
        templateArn: templateArn(ns, templateName),
        clientId: who.clientId,
        parameters,
      });
      parameters = { ...parameters, ...answer };
    }
    const { template } = this.deps.templates.body(ns, templateName);
    const resolved = this.resolve(() => resolveTemplate(template, parameters, { 'AWS::IoT::Certificate::Id': owned.certificateId }));
    const result = await this.deps.provisioner.provision(ns, resolved, { ownedCertificate: owned });
    await this.deps.pending.forget(ns, owned.certificateId);
    this.deps.log.info(
      { template: templateName, thingName: result.thingName, certificateId: owned.certificateId },
      'device provisioned by claim',
    );
    // A template without a thing resource provisions no thing: the answer then has no thingName.
    const answer = { deviceConfiguration: resolved.deviceConfiguration } as RegisterThingResponse;
    if (result.thingName !== undefined) answer.thingName = result.thingName;
    return answer;
  }

  /** The hook's parameter overrides; throws ACCESS_DENIED when it refuses, fails or does not answer in time. */
  private async hook(ns: Namespace, targetArn: string, event: Record<string, unknown>): Promise<Record<string, string>> {
    const functions = this.deps.functions();
    let result: unknown;
    try {
      if (!functions) throw new Error('there is no function registry');
      result = await Promise.race([
        functions.functions.invoke(ns, targetArn, event, { maxWaitMs: HOOK_TIMEOUT_MS }),
        new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer within ${HOOK_TIMEOUT_MS} ms`)), HOOK_TIMEOUT_MS).unref()),
      ]);
    } catch (err) {
      this.deps.log.warn({ targetArn, err: (err as Error).message }, 'pre-provisioning hook failed');
      throw new ProvisioningError('ACCESS_DENIED', 403, `The pre-provisioning hook failed: ${(err as Error).message}`);
    }
    const r = result as { allowProvisioning?: unknown; parameterOverrides?: unknown } | null;
    if (r === null || typeof r !== 'object' || r.allowProvisioning !== true) {
      throw new ProvisioningError('ACCESS_DENIED', 403, 'The pre-provisioning hook did not allow provisioning');
    }
    try {
      return stringMap(r.parameterOverrides, 'parameterOverrides');
    } catch (err) {
      throw new ProvisioningError('ACCESS_DENIED', 403, `The pre-provisioning hook answered ${(err as Error).message}`);
    }
  }

  private resolve(run: () => Provisioning): Provisioning {
    try {
      return run();
    } catch (err) {
      if (err instanceof TemplateError) throw new ProvisioningError('InvalidParameters', 400, err.message);
      throw err;
    }
  }

  /** RegisterThing (`POST /things`): a template body run with parameters by a trusted caller. */
  async registerThingHttp(ns: Namespace, body: Record<string, unknown>) {
    // JITP-style bodies: certificates by CSR, PEM or id.
    const template = parseTemplate(body.templateBody, 'JITP');
    let parameters: Record<string, string>;
    try {
      parameters = stringMap(body.parameters, 'parameters');
    } catch (err) {
      throw invalidRequest((err as Error).message);
    }
    try {
      const resolved = this.resolve(() => resolveTemplate(template, parameters, {}));
      const r = await this.deps.provisioner.provision(ns, resolved);
      return { certificatePem: r.certificatePem, resourceArns: r.resourceArns };
    } catch (err) {
      if (err instanceof ProvisioningError) {
        if (err.errorCode === 'ResourceConflictsException') throw new AwsError('ConflictingResourceUpdateException', 409, err.message);
        throw new AwsError('ResourceRegistrationFailureException', 400, err.message);
      }
      throw err;
    }
  }

  /** CreateProvisioningClaim: an ACTIVE certificate valid five minutes, allowed only to provision with that template. */
  async createClaim(ns: Namespace, templateName: string) {
    const row = this.deps.templates.store.template(ns, templateName);
    if (!row) throw notFound(`The provisioning template ${templateName} does not exist`);
    if (row.type !== 'FLEET_PROVISIONING')
      throw invalidRequest(`The provisioning template ${templateName} is not a fleet provisioning template`);
    const policyName = await this.claimPolicy(ns, templateName);
    // Valid from a moment ago (clock skew), as every certificate here, and until five minutes from now.
    const days = (CLAIM_VALIDITY_MS + BACKDATE_MS) / 86_400_000;
    const issued = await this.deps.certificates().certificates.issue(ns, { status: 'ACTIVE', days });
    const id = issued.row.certificateId;
    const expiration = new Date(new X509Certificate(issued.row.pem).validTo).getTime();
    await this.deps.pending.claim(ns, id, expiration);
    await this.deps.policies().policies.attach(ns, policyName, certArn(ns, id));
    return {
      certificateId: id,
      certificatePem: issued.row.pem,
      keyPair: { PublicKey: issued.publicKey, PrivateKey: issued.privateKey },
      expiration: expiration / 1000,
    };
  }

  /** The policy of a template's claim certificates: connect, and the fleet provisioning topics of that template only. */
  private async claimPolicy(ns: Namespace, templateName: string): Promise<string> {
    const name = `ThicketProvisioningClaim-${templateName}`;
    const { store, policies } = this.deps.policies();
    if (store.policy(ns, name)) return name;
    const topic = (t: string) => iotArn(ns, `topic/${t}`);
    const filter = (t: string) => iotArn(ns, `topicfilter/${t}`);
    const topics = [
      '$aws/certificates/create/*',
      '$aws/certificates/create-from-csr/*',
      `$aws/provisioning-templates/${templateName}/provision/*`,
    ];
    const document = {
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Action: 'iot:Connect', Resource: iotArn(ns, 'client/*') },
        { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: topics.map(topic) },
        { Effect: 'Allow', Action: 'iot:Subscribe', Resource: topics.map(filter) },
      ],
    };
    try {
      await policies.create(ns, name, { policyDocument: JSON.stringify(document) });
    } catch (err) {
      if (!(err instanceof AwsError && err.code === 'ResourceAlreadyExistsException')) throw err;
    }
    return name;
  }

  /** Deletes what expired unused: certificates never provisioned, and claim certificates. */
  async sweep(now = Date.now()): Promise<number> {
    const rows = await this.deps.pending.expired(now);
    const { store } = this.deps.certificates();
    for (const r of rows) {
      const ns: Namespace = { accountId: r.accountId, region: r.region };
      const c = store.certificate(ns, r.certificateId);
      if (c && (r.kind === 'claim' || c.status === 'PENDING_ACTIVATION')) {
        await this.deps.policies().policies.detachAll(ns, certArn(ns, c.certificateId));
        await store.deleteCertificate(ns, c);
      }
      await this.deps.pending.forget(ns, r.certificateId);
    }
    return rows.length;
  }
}
