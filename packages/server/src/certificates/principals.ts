/**
 * Thing principals (reference controlplane §3.4, dataplane §5.1): certificates attached to things,
 * exclusively (the connection is that thing whatever its client id) or not (the thing named like
 * the client id).
 */
import type { Namespace } from '../accounts/namespace.js';
import { invalidRequest, notFound } from '../aws/errors.js';
import { pageOf, pageSize } from '../api/pagination.js';
import { untilApplied, type RegistryStore } from '../registry/registry-store.js';
import type { Certificates } from './certificates.js';

export type ThingPrincipalType = 'EXCLUSIVE_THING' | 'NON_EXCLUSIVE_THING';

export class ThingPrincipals {
  constructor(
    private readonly registry: RegistryStore,
    private readonly certificates: Certificates,
    /** Attachments changed: connection policy variables (thing name, IsAttached) may change. */
    private readonly changed: (ns: Namespace) => void,
  ) {}

  private principal(ns: Namespace, raw: unknown): string {
    if (typeof raw !== 'string' || raw.length === 0) throw invalidRequest('The x-amzn-principal header is required');
    this.certificates.fromArn(ns, raw);
    return raw;
  }

  private thing(ns: Namespace, name: string): void {
    if (!this.registry.thing(ns, name)) throw notFound(`Thing ${name} cannot be found.`);
  }

  async attach(ns: Namespace, thingName: string, rawPrincipal: unknown, type: string | undefined): Promise<Record<string, never>> {
    const kind = (type ?? 'NON_EXCLUSIVE_THING') as ThingPrincipalType;
    if (kind !== 'EXCLUSIVE_THING' && kind !== 'NON_EXCLUSIVE_THING') {
      throw invalidRequest(`thingPrincipalType must be EXCLUSIVE_THING or NON_EXCLUSIVE_THING, not '${kind}'`);
    }
    await untilApplied(`Thing ${thingName}`, async () => {
      this.thing(ns, thingName);
      const principal = this.principal(ns, rawPrincipal);
      const others = this.registry.thingsOf(ns, principal).filter((t) => t.thingName !== thingName);
      const exclusiveElsewhere = others.find((t) => t.exclusive);
      if (exclusiveElsewhere) throw invalidRequest(`${principal} is attached exclusively to thing ${exclusiveElsewhere.thingName}`);
      if (kind === 'EXCLUSIVE_THING' && others.length) {
        throw invalidRequest(
          `${principal} is already attached to ${others.map((t) => t.thingName).join(', ')}; it cannot be attached exclusively`,
        );
      }
      // The thing gone or the principal attached elsewhere meanwhile: decided again on what is there now.
      return this.registry.attachPrincipal(ns, thingName, principal, kind === 'EXCLUSIVE_THING');
    });
    this.changed(ns);
    return {};
  }

  async detach(ns: Namespace, thingName: string, rawPrincipal: unknown): Promise<Record<string, never>> {
    this.thing(ns, thingName);
    await this.registry.detachPrincipal(ns, thingName, this.principal(ns, rawPrincipal));
    this.changed(ns);
    return {};
  }

  listPrincipals(ns: Namespace, thingName: string, q: Record<string, string | undefined>, v2: boolean) {
    if (!this.registry.thing(ns, thingName))
      throw notFound(`Failed to list principals for thing ${thingName} because the thing does not exist in your account`);
    let all = this.registry.principalsOf(ns, thingName);
    if (v2 && q.thingPrincipalType)
      all = all.filter((p) => (p.exclusive ? 'EXCLUSIVE_THING' : 'NON_EXCLUSIVE_THING') === q.thingPrincipalType);
    const page = pageOf(all, pageSize(q.maxResults, 'maxResults', 250), q.nextToken);
    return v2
      ? {
          thingPrincipalObjects: page.items.map((p) => ({
            principal: p.principal,
            thingPrincipalType: p.exclusive ? 'EXCLUSIVE_THING' : 'NON_EXCLUSIVE_THING',
          })),
          nextToken: page.next,
        }
      : { principals: page.items.map((p) => p.principal), nextToken: page.next };
  }

  listThings(ns: Namespace, rawPrincipal: unknown, q: Record<string, string | undefined>, v2: boolean) {
    const principal = this.principal(ns, rawPrincipal);
    let all = this.registry.thingsOf(ns, principal);
    if (v2 && q.thingPrincipalType)
      all = all.filter((t) => (t.exclusive ? 'EXCLUSIVE_THING' : 'NON_EXCLUSIVE_THING') === q.thingPrincipalType);
    const page = pageOf(all, pageSize(q.maxResults, 'maxResults', 250), q.nextToken);
    return v2
      ? {
          principalThingObjects: page.items.map((t) => ({
            thingName: t.thingName,
            thingPrincipalType: t.exclusive ? 'EXCLUSIVE_THING' : 'NON_EXCLUSIVE_THING',
          })),
          nextToken: page.next,
        }
      : { things: page.items.map((t) => t.thingName), nextToken: page.next };
  }
}
