/**
 * Provisions what a resolved template describes, through the registry, certificate and policy
 * services (so every rule, event and cluster announcement of theirs applies): the certificate
 * (activated, issued from a CSR or registered from its PEM), the thing (created, or changed as its
 * OverrideSettings say), the policies (named, or created from a document under the name AWS gives
 * it: the SHA-256 of the document), the policies attached to the certificate and the certificate
 * to the thing. What everything is checked against comes first, so a refusal leaves nothing
 * behind; a failure after a resource was created removes what this run created.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { isThingName } from '@thicket/sdk/protocol';
import { iotArn, type Namespace } from '../accounts/namespace.js';
import { AwsError } from '../aws/errors.js';
import type { CertificateRow, CertificateStatus } from '../certificates/cert-store.js';
import { certArn } from '../certificates/certificates.js';
import type { Services } from '../platform/capability.js';
import { checkDocument } from '../policies/policies.js';
import type { CertificateSource, Override, Provisioning, ThingSpec } from './template-body.js';
import { canonicalPem } from '../certificates/x509-check.js';
import { certificateId } from '../pki/index.js';

/** A template run that failed: the HTTP error, and the code and status a device is answered with over MQTT. */
export class ProvisioningError extends Error {
  constructor(
    readonly errorCode: string,
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = errorCode;
  }
}

const conflict = (message: string) => new ProvisioningError('ResourceConflictsException', 409, message);
const failed = (message: string) => new ProvisioningError('InvalidParameters', 400, message);

export interface ProvisionResult {
  thingName: string | undefined;
  certificateId: string | undefined;
  certificatePem: string | undefined;
  resourceArns: { thing?: string; certificate?: string; policy?: string };
}

export interface ProvisionerDeps {
  registry(): Services['registry'];
  certificates(): Services['certificates'];
  policies(): Services['policies'];
}

export interface ProvisionOptions {
  /**
   * Fleet provisioning: the certificate the device proved it owns (by its ownership token). The
   * template must name that one; it leaves PENDING_ACTIVATION only through this run, once.
   */
  ownedCertificate?: CertificateRow;
}

/** AWS names a policy created from a template's document by the document's SHA-256. */
export const policyNameOf = (document: string): string => createHash('sha256').update(document).digest('hex');

export class Provisioner {
  constructor(private readonly deps: ProvisionerDeps) {}

  async provision(ns: Namespace, p: Provisioning, opts: ProvisionOptions = {}): Promise<ProvisionResult> {
    const registry = this.deps.registry();
    const { store: certStore, certificates } = this.deps.certificates();
    const { store: policyStore, policies } = this.deps.policies();
    const thing = p.thing;
    const existing = thing ? registry.store.thing(ns, thing.thingName) : undefined;

    // ---- every check before anything is written
    if (thing) {
      if (!isThingName(thing.thingName)) throw failed(`${thing.thingName} is not a valid thing name`);
      if (thing.thingTypeName !== undefined && !registry.store.thingType(ns, thing.thingTypeName)) {
        throw failed(`The thing type ${thing.thingTypeName} does not exist`);
      }
      for (const g of thing.thingGroups ?? []) if (!registry.store.groups.group(ns, g)) throw failed(`The thing group ${g} does not exist`);
      if (thing.billingGroup !== undefined) {
        try {
          registry.billingGroups.require(ns, thing.billingGroup);
        } catch {
          throw failed(`The billing group ${thing.billingGroup} does not exist`);
        }
      }
      if (existing) this.checkFail(ns, existing.thingName, thing);
    }
    for (const pol of p.policies) {
      if ('policyName' in pol && !policyStore.policy(ns, pol.policyName)) throw failed(`The policy ${pol.policyName} does not exist`);
      if ('policyDocument' in pol) {
        try {
          checkDocument(pol.policyDocument);
        } catch (err) {
          throw failed(`The policy document of the template is invalid: ${(err as Error).message}`);
        }
      }
    }
    const owned = opts.ownedCertificate;
    const source = p.certificate?.source;
    if (owned && sourceId(source) !== owned.certificateId) {
      throw failed(
        'The template must provision the certificate of the ownership token: CertificateId {"Ref": "AWS::IoT::Certificate::Id"}',
      );
    }
    if (source?.kind === 'id' && !owned && !certStore.certificate(ns, source.certificateId)) {
      throw failed(`The certificate ${source.certificateId} does not exist`);
    }

    const undo: Array<() => Promise<unknown>> = [];
    try {
      // ---- the certificate
      let cert: CertificateRow | undefined;
      if (p.certificate) {
        const status = p.certificate.status as CertificateStatus;
        if (owned) {
          const activated = await this.activateOwned(ns, owned, status);
          cert = activated;
          // A run that fails later hands the certificate back, so the device may try again with its token.
          undo.push(async () => {
            const held = certStore.certificate(ns, activated.certificateId);
            if (held) await certStore.updateCertificate(ns, held, { ...held, status: 'PENDING_ACTIVATION', lastModified: Date.now() });
          });
        } else if (source!.kind === 'id') {
          cert = await this.overrideStatus(ns, certStore.certificate(ns, source!.certificateId)!, status, p.certificate.overrides.Status);
        } else if (source!.kind === 'csr') {
          cert = (await certificates.issue(ns, { status, csr: source!.csr })).row;
          const id = cert.certificateId;
          undo.push(() => this.removeCertificate(ns, id));
        } else {
          const r = await certificates.register(ns, { certificatePem: source!.pem, caCertificatePem: source!.caPem, status }, undefined);
          cert = certStore.certificate(ns, r.certificateId);
          undo.push(() => this.removeCertificate(ns, r.certificateId));
        }
      }
      const principal = cert && certArn(ns, cert.certificateId);

      // ---- the thing
      if (thing) {
        if (!existing) {
          await registry.things.create(ns, thing.thingName, {
            thingTypeName: thing.thingTypeName,
            attributePayload: { attributes: thing.attributes ?? {} },
            billingGroupName: thing.billingGroup,
          });
          undo.push(() => registry.things.delete(ns, thing.thingName));
          if (thing.thingGroups?.length) {
            await registry.thingGroups.updateGroupsForThing(ns, { thingName: thing.thingName, thingGroupsToAdd: thing.thingGroups });
          }
        } else {
          await this.override(ns, thing);
        }
      }

      // ---- policies, and the attachments
      let lastPolicy: string | undefined;
      for (const pol of p.policies) {
        let name: string;
        if ('policyName' in pol) name = pol.policyName;
        else {
          name = policyNameOf(pol.policyDocument);
          if (!policyStore.policy(ns, name)) {
            // Devices of one template provision at once: the first creates the policy, the others use it.
            const created = await policies.create(ns, name, { policyDocument: pol.policyDocument }).then(
              () => true,
              (err: unknown) => {
                if (err instanceof AwsError && err.code === 'ResourceAlreadyExistsException') return false;
                throw err;
              },
            );
            if (created) undo.push(() => policies.delete(ns, name));
          }
        }
        if (principal) {
          await policies.attach(ns, name, principal);
          undo.push(() => policies.detach(ns, name, principal));
        }
        lastPolicy = name;
      }
      if (thing && principal) {
        await this.deps.certificates().principals.attach(ns, thing.thingName, principal, undefined);
      }
      return {
        thingName: thing?.thingName,
        certificateId: cert?.certificateId,
        certificatePem: cert?.pem,
        resourceArns: {
          thing: thing && iotArn(ns, `thing/${thing.thingName}`),
          certificate: principal,
          policy: lastPolicy && iotArn(ns, `policy/${lastPolicy}`),
        },
      };
    } catch (err) {
      for (const u of undo.reverse()) await u().catch(() => undefined);
      if (err instanceof AwsError && err.status < 500) throw new ProvisioningError('InvalidParameters', 400, err.message);
      throw err;
    }
  }

  /** OverrideSettings FAIL: the existing thing must already have what the template says. */
  private checkFail(ns: Namespace, thingName: string, spec: ThingSpec): void {
    const registry = this.deps.registry();
    const t = registry.store.thing(ns, thingName)!;
    const o = spec.overrides;
    const groups = new Set(registry.store.groups.groupsOfThing(ns, thingName));
    if (o.ThingTypeName === 'FAIL' && spec.thingTypeName !== undefined && spec.thingTypeName !== t.thingTypeName) {
      throw conflict(`Thing ${thingName} exists with another thing type`);
    }
    if (
      o.AttributePayload === 'FAIL' &&
      spec.attributes !== undefined &&
      JSON.stringify(sorted(spec.attributes)) !== JSON.stringify(sorted(t.attributes))
    ) {
      throw conflict(`Thing ${thingName} exists with other attributes`);
    }
    if (
      o.ThingGroups === 'FAIL' &&
      spec.thingGroups !== undefined &&
      (spec.thingGroups.length !== groups.size || spec.thingGroups.some((g) => !groups.has(g)))
    ) {
      throw conflict(`Thing ${thingName} exists in other thing groups`);
    }
    if (
      o.BillingGroup === 'FAIL' &&
      spec.billingGroup !== undefined &&
      registry.store.billing.billingGroupOf(ns, thingName) !== spec.billingGroup
    ) {
      throw conflict(`Thing ${thingName} exists in another billing group`);
    }
  }

  /** An existing thing, changed as the template's OverrideSettings say (DO_NOTHING when not said). */
  private async override(ns: Namespace, spec: ThingSpec): Promise<void> {
    const registry = this.deps.registry();
    const name = spec.thingName;
    const o = (k: string): Override => spec.overrides[k] ?? 'DO_NOTHING';
    const update: { thingTypeName?: string; attributePayload?: { attributes: Record<string, string>; merge: boolean } } = {};
    if (spec.thingTypeName !== undefined && o('ThingTypeName') === 'REPLACE') update.thingTypeName = spec.thingTypeName;
    if (spec.attributes !== undefined && (o('AttributePayload') === 'REPLACE' || o('AttributePayload') === 'MERGE')) {
      update.attributePayload = { attributes: spec.attributes, merge: o('AttributePayload') === 'MERGE' };
    }
    if (update.thingTypeName !== undefined || update.attributePayload !== undefined) await registry.things.update(ns, name, update);
    if (spec.thingGroups !== undefined && (o('ThingGroups') === 'REPLACE' || o('ThingGroups') === 'MERGE')) {
      const current = registry.store.groups.groupsOfThing(ns, name);
      const toRemove = o('ThingGroups') === 'REPLACE' ? current.filter((g) => !spec.thingGroups!.includes(g)) : [];
      const toAdd = spec.thingGroups.filter((g) => !current.includes(g));
      if (toAdd.length || toRemove.length) {
        await registry.thingGroups.updateGroupsForThing(ns, { thingName: name, thingGroupsToAdd: toAdd, thingGroupsToRemove: toRemove });
      }
    }
    if (spec.billingGroup !== undefined && o('BillingGroup') === 'REPLACE') {
      await registry.billingGroups.addThing(ns, { billingGroupName: spec.billingGroup, thingName: name });
    }
  }

  /** The ownership token's certificate leaves PENDING_ACTIVATION: once, whichever node or request tries. */
  private async activateOwned(ns: Namespace, owned: CertificateRow, status: CertificateStatus): Promise<CertificateRow> {
    const { store } = this.deps.certificates();
    const current = store.certificate(ns, owned.certificateId);
    if (!current || current.status !== 'PENDING_ACTIVATION') throw usedToken();
    const next: CertificateRow = { ...current, status, lastModified: Date.now(), customerVersion: current.customerVersion + 1 };
    if (!(await store.updateCertificate(ns, current, next))) throw usedToken();
    return next;
  }

  private async overrideStatus(
    ns: Namespace,
    cert: CertificateRow,
    status: CertificateStatus,
    override: Override | undefined,
  ): Promise<CertificateRow> {
    if (cert.status === status || override === undefined || override === 'DO_NOTHING') return cert;
    if (override === 'FAIL') throw conflict(`Certificate ${cert.certificateId} is ${cert.status}, not ${status}`);
    await this.deps.certificates().certificates.update(ns, cert.certificateId, status);
    return this.deps.certificates().store.certificate(ns, cert.certificateId)!;
  }

  private async removeCertificate(ns: Namespace, id: string): Promise<void> {
    const { store } = this.deps.certificates();
    const c = store.certificate(ns, id);
    if (c) await store.deleteCertificate(ns, c);
  }
}

export const usedToken = () =>
  new ProvisioningError('InvalidCertificateOwnershipToken', 400, 'The certificate ownership token is invalid, expired or already used');

/** The id of the certificate a template names by id or by PEM. */
function sourceId(source: CertificateSource | undefined): string | undefined {
  if (source?.kind === 'id') return source.certificateId;
  if (source?.kind !== 'pem') return undefined;
  try {
    return certificateId(canonicalPem(new X509Certificate(source.pem)));
  } catch {
    return undefined;
  }
}

function sorted(m: Record<string, string>): Array<[string, string]> {
  return Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
