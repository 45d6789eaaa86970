/**
 * A job's targets (reference controlplane §5.1): thing and thing group ARNs of the caller's
 * account and region, expanded to the things they reach now (groups through their child groups).
 */
import { parseArn, type Namespace } from '../accounts/namespace.js';
import { invalidRequest, notFound } from '../aws/errors.js';
import type { RegistryStore } from '../registry/registry-store.js';
import type { ThingGroups } from '../registry/thing-groups.js';
import type { JobRecord } from './job-types.js';
import { thingArn } from './job-views.js';

export interface TargetDeps {
  registry: Pick<RegistryStore, 'thing' | 'group'>;
  groups: Pick<ThingGroups, 'members' | 'groupsReaching'>;
}

/**
 * The things an ARN list targets now. `lenient` (a scheduled job starting): a thing or group
 * deleted since CreateJob is skipped rather than refused.
 */
export function expandTargets(d: TargetDeps, ns: Namespace, targets: string[], lenient = false): string[] {
  const things = new Set<string>();
  for (const arn of targets) {
    const p = parseArn(arn);
    const slash = p?.resource.indexOf('/') ?? -1;
    const kind = p?.resource.slice(0, slash);
    const name = p?.resource.slice(slash + 1) ?? '';
    if (!p || p.service !== 'iot' || (kind !== 'thing' && kind !== 'thinggroup')) {
      throw invalidRequest(`targets must be thing or thing group ARNs, not ${arn}`);
    }
    if (p.accountId !== ns.accountId || p.region !== ns.region) throw invalidRequest(`target ${arn} is not in this account and region`);
    if (kind === 'thing') {
      if (d.registry.thing(ns, name)) things.add(name);
      else if (!lenient) throw notFound(`Thing ${name} cannot be found.`);
    } else if (d.registry.group(ns, name)) {
      for (const t of d.groups.members(ns, name, true)) things.add(t);
    } else if (!lenient) throw notFound(`Thing Group ${name} cannot be found.`);
  }
  return [...things];
}

/** Whether a job's targets reach the thing now (directly or through one of its groups' lineages). */
export function targetsThing(d: TargetDeps, ns: Namespace, job: JobRecord, thingName: string): boolean {
  if (job.targets.includes(thingArn(ns, thingName))) return true;
  const groups = new Set(d.groups.groupsReaching(ns, thingName));
  return job.targets.some((t) => {
    const p = parseArn(t);
    return p?.resource.startsWith('thinggroup/') === true && groups.has(p.resource.slice('thinggroup/'.length));
  });
}
