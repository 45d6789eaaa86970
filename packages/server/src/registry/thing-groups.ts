/** Static thing groups: hierarchy, membership both ways (reference controlplane §2.4). */
import { randomUUID } from 'node:crypto';
import { iotArn, type Namespace } from '../accounts/namespace.js';
import { alreadyExists, invalidRequest, limitExceeded, notFound, versionConflict } from '../aws/errors.js';
import { pageOf } from '../api/pagination.js';
import type { RegistryEvents } from './events.js';
import type { TagWriter } from '../tags/tag-writer.js';
import type { ThingGroupStore } from './group-store.js';
import { untilApplied, type RegistryStore, type ThingGroupRow } from './registry-store.js';
import { thingArn } from './things.js';
import {
  checkAttributes,
  checkName,
  checkTags,
  MAX_GROUP_DEPTH,
  MAX_GROUPS_PER_THING,
  nameOrArn,
  optionalString,
  optionalVersion,
} from './validation.js';

export const thingGroupArn = (ns: Namespace, name: string): string => iotArn(ns, `thinggroup/${name}`);

interface GroupProperties {
  thingGroupDescription?: unknown;
  attributePayload?: { attributes?: unknown; merge?: unknown };
}

export class ThingGroups {
  /** Called when a thing joins or leaves a group (continuous jobs follow membership). */
  membershipChanged: (ns: Namespace, thingName: string) => void | Promise<void> = () => {};

  constructor(
    private readonly store: RegistryStore,
    private readonly events: RegistryEvents,
    /** The tags capability's writer: a group's tags are stored and removed with it. */
    private readonly tags: TagWriter,
  ) {}

  private get groups(): ThingGroupStore {
    return this.store.groups;
  }

  private get(ns: Namespace, name: string): ThingGroupRow {
    const g = this.groups.group(ns, name);
    if (!g) throw notFound(`Thing Group ${name} cannot be found.`);
    return g;
  }

  /** Ancestors of a group, root first. */
  ancestors(ns: Namespace, g: ThingGroupRow): ThingGroupRow[] {
    const chain: ThingGroupRow[] = [];
    let parent = g.parentName;
    while (parent !== null) {
      const p = this.groups.group(ns, parent);
      if (!p) break;
      chain.unshift(p);
      parent = p.parentName;
    }
    return chain;
  }

  /** The group and all its ancestors' names: a thing in `g` is in all of them for policy inheritance. */
  lineage(ns: Namespace, groupName: string): string[] {
    const g = this.groups.group(ns, groupName);
    return g ? [...this.ancestors(ns, g).map((a) => a.name), g.name] : [];
  }

  async create(ns: Namespace, name: unknown, body: { parentGroupName?: unknown; thingGroupProperties?: unknown; tags?: unknown }) {
    const groupName = checkName('thingGroupName', name);
    const props = (body.thingGroupProperties ?? {}) as GroupProperties;
    const description = optionalString('thingGroupProperties.thingGroupDescription', props.thingGroupDescription) ?? null;
    const attributes = checkAttributes('thingGroupProperties.attributePayload.attributes', props.attributePayload?.attributes);
    const parentName = body.parentGroupName === undefined ? null : checkName('parentGroupName', body.parentGroupName);
    const tags = checkTags(body.tags);
    const arn = thingGroupArn(ns, groupName);
    const created = await untilApplied(`Thing group ${groupName}`, async () => {
      const existing = this.groups.group(ns, groupName);
      if (existing) {
        // As on AWS, creating a group again with the same properties answers the existing group.
        if (existing.description === description && sameMap(existing.attributes, attributes)) return { g: existing, created: false };
        throw alreadyExists(`Thing Group ${groupName} already exists in current account with different properties`, existing.id, arn);
      }
      if (parentName !== null) {
        const parent = this.get(ns, parentName);
        if (this.ancestors(ns, parent).length + 2 > MAX_GROUP_DEPTH) {
          throw limitExceeded(`A thing group hierarchy may be at most ${MAX_GROUP_DEPTH} levels deep`);
        }
      }
      const g: ThingGroupRow = {
        name: groupName,
        id: randomUUID(),
        parentName,
        description,
        attributes,
        version: 1,
        createdAt: Date.now(),
      };
      // The name taken or the parent gone meanwhile: decided again on what is there now.
      return (await this.groups.insertGroup(ns, g, this.tags.putting(arn, tags))) && { g, created: true };
    });
    const { g } = created;
    if (created.created) {
      this.emit(ns, 'created', g);
      if (parentName !== null) this.emitHierarchy(ns, parentName, groupName, 'added');
    }
    return { thingGroupName: groupName, thingGroupArn: arn, thingGroupId: g.id };
  }

  describe(ns: Namespace, name: string) {
    const g = this.get(ns, name);
    return {
      thingGroupName: g.name,
      thingGroupId: g.id,
      thingGroupArn: thingGroupArn(ns, g.name),
      version: g.version,
      // AWS leaves out what a group does not have: no attributePayload without attributes, no
      // parent fields for a root group.
      thingGroupProperties: {
        thingGroupDescription: g.description ?? undefined,
        attributePayload: Object.keys(g.attributes).length ? { attributes: g.attributes } : undefined,
      },
      thingGroupMetadata:
        g.parentName === null
          ? { creationDate: g.createdAt / 1000 }
          : {
              parentGroupName: g.parentName,
              rootToParentThingGroups: this.ancestors(ns, g).map((a) => ({ groupName: a.name, groupArn: thingGroupArn(ns, a.name) })),
              creationDate: g.createdAt / 1000,
            },
    };
  }

  async update(ns: Namespace, name: string, body: { thingGroupProperties?: unknown; expectedVersion?: unknown }) {
    if (body.thingGroupProperties === undefined) throw invalidRequest('thingGroupProperties is required');
    const props = body.thingGroupProperties as GroupProperties;
    const expected = optionalVersion('expectedVersion', body.expectedVersion);
    // A merge applies to the attributes as they are when the write lands: a concurrent change makes it read and merge again.
    const next = await untilApplied(`Thing group ${name}`, async () => {
      const g = this.get(ns, name);
      if (expected !== undefined && expected !== g.version)
        throw versionConflict(`The version for thing group ${name} does not match the expected version.`);
      let attributes = g.attributes;
      if (props.attributePayload) {
        const given = checkAttributes('thingGroupProperties.attributePayload.attributes', props.attributePayload.attributes);
        if (props.attributePayload.merge === true) {
          attributes = { ...g.attributes };
          for (const [k, v] of Object.entries(given)) {
            if (v === '') delete attributes[k];
            else attributes[k] = v;
          }
        } else if (Object.keys(given).length > 0) {
          // An empty map without merge leaves the attributes as they are (AWS adds nothing).
          attributes = given;
        }
      }
      const description = optionalString('thingGroupProperties.thingGroupDescription', props.thingGroupDescription);
      const next = { ...g, attributes, description: description ?? g.description, version: g.version + 1 };
      return (await this.groups.updateGroup(ns, g, next)) && next;
    });
    this.emit(ns, 'updated', next);
    return { version: next.version };
  }

  async delete(ns: Namespace, name: string, expectedVersion?: string): Promise<Record<string, never>> {
    const expected = optionalVersion('expectedVersion', expectedVersion);
    const deleted = await untilApplied(`Thing group ${name}`, async () => {
      const g = this.groups.group(ns, name);
      if (!g) return null;
      if (expected !== undefined && expected !== g.version)
        throw versionConflict(`The version for thing group ${name} does not match the expected version.`);
      if (this.groups.children(ns, name).length > 0) {
        throw invalidRequest(`Cannot delete thing group : ${name} when there are still child groups attached to it.`);
      }
      const members = await this.groups.deleteGroup(ns, g, this.tags.removing(thingGroupArn(ns, name)));
      return members && { g, members };
    });
    if (!deleted) return {};
    // The group is gone first: membershipChanged (continuous jobs) must find the things out of it.
    const { g, members } = deleted;
    for (const thing of members) await this.emitMembership(ns, g, thing, 'removed');
    if (g.parentName !== null) this.emitHierarchy(ns, g.parentName, name, 'removed');
    this.emit(ns, 'deleted', g);
    return {};
  }

  list(ns: Namespace, q: { nextToken?: string; maxResults: number; parentGroup?: string; namePrefixFilter?: string; recursive?: boolean }) {
    let all: ThingGroupRow[];
    if (q.parentGroup !== undefined) {
      this.get(ns, q.parentGroup);
      // Only an explicit recursive=false limits the listing to the direct children.
      all = q.recursive === false ? this.groups.children(ns, q.parentGroup) : this.descendants(ns, q.parentGroup);
    } else {
      all = this.groups.groups(ns);
      // Without recursive, only root groups are listed.
      if (q.recursive === false) all = all.filter((g) => g.parentName === null);
    }
    if (q.namePrefixFilter !== undefined) all = all.filter((g) => g.name.startsWith(q.namePrefixFilter!));
    all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const page = pageOf(all, q.maxResults, q.nextToken);
    return { thingGroups: page.items.map((g) => ({ groupName: g.name, groupArn: thingGroupArn(ns, g.name) })), nextToken: page.next };
  }

  private descendants(ns: Namespace, name: string): ThingGroupRow[] {
    const out: ThingGroupRow[] = [];
    const stack = [name];
    while (stack.length) {
      for (const c of this.groups.children(ns, stack.pop()!)) {
        out.push(c);
        stack.push(c.name);
      }
    }
    return out;
  }

  async addThing(
    ns: Namespace,
    body: { thingGroupName?: unknown; thingGroupArn?: unknown; thingName?: unknown; thingArn?: unknown },
  ): Promise<Record<string, never>> {
    const groupName = nameOrArn(ns, body.thingGroupName, body.thingGroupArn, 'thinggroup', 'thingGroupName');
    const thingName = nameOrArn(ns, body.thingName, body.thingArn, 'thing', 'thingName');
    await this.change(ns, thingName, [], [groupName], false);
    return {};
  }

  async removeThing(
    ns: Namespace,
    body: { thingGroupName?: unknown; thingGroupArn?: unknown; thingName?: unknown; thingArn?: unknown },
  ): Promise<Record<string, never>> {
    const groupName = nameOrArn(ns, body.thingGroupName, body.thingGroupArn, 'thinggroup', 'thingGroupName');
    const thingName = nameOrArn(ns, body.thingName, body.thingArn, 'thing', 'thingName');
    await this.change(ns, thingName, [groupName], [], false);
    return {};
  }

  async updateGroupsForThing(
    ns: Namespace,
    body: { thingName?: unknown; thingGroupsToAdd?: unknown; thingGroupsToRemove?: unknown },
  ): Promise<Record<string, never>> {
    const thingName = checkName('thingName', body.thingName);
    const names = (v: unknown, member: string): string[] => {
      if (v === undefined) return [];
      if (!Array.isArray(v)) throw invalidRequest(`${member} must be a list of thing group names`);
      return v.map((x) => checkName(member, x));
    };
    const add = names(body.thingGroupsToAdd, 'thingGroupsToAdd');
    const remove = names(body.thingGroupsToRemove, 'thingGroupsToRemove');
    await this.change(ns, thingName, remove, add, true);
    return {};
  }

  /**
   * Takes a thing out of `remove` and puts it in `add` (joining a group it is in changes nothing),
   * all or nothing: every check is made on the memberships as they will be before anything is
   * written, and the events follow the write. `thingFirst`: a missing thing is reported before a missing group.
   */
  private async change(
    ns: Namespace,
    thingName: string,
    remove: readonly string[],
    add: readonly string[],
    thingFirst: boolean,
  ): Promise<void> {
    const done = await untilApplied(`Thing ${thingName}`, async () => {
      const thingThere = (): void => {
        if (!this.store.thing(ns, thingName)) throw notFound(`Thing ${thingName} cannot be found.`);
      };
      if (thingFirst) thingThere();
      const groups = new Map<string, ThingGroupRow>();
      for (const r of remove) groups.set(r, this.get(ns, r));
      if (add.length > 0) groups.set(add[0]!, this.get(ns, add[0]!));
      thingThere();
      const current = new Set(this.groups.groupsOfThing(ns, thingName));
      for (const r of remove) current.delete(r);
      const joining: string[] = [];
      for (const a of add) {
        groups.set(a, this.get(ns, a));
        if (current.has(a)) continue;
        if (current.size >= MAX_GROUPS_PER_THING) {
          throw limitExceeded(`Thing ${thingName} is already in ${MAX_GROUPS_PER_THING} thing groups, the most a thing may belong to`);
        }
        // A thing may be in only one group of a hierarchy (groups that share an ancestor).
        const root = this.lineage(ns, a)[0];
        const clash = [...current].find((other) => this.lineage(ns, other)[0] === root);
        if (clash !== undefined) {
          throw invalidRequest(`Thing ${thingName} is already in thing group ${clash}, which is in the same hierarchy as ${a}`);
        }
        current.add(a);
        joining.push(a);
      }
      if (remove.length === 0 && joining.length === 0) return { groups, removed: [], joining };
      const changed = await this.groups.changeMemberships(ns, thingName, { remove, add: joining });
      return changed && { groups, removed: changed.removed, joining };
    });
    for (const r of done.removed) await this.emitMembership(ns, done.groups.get(r)!, thingName, 'removed');
    for (const a of done.joining) await this.emitMembership(ns, done.groups.get(a)!, thingName, 'added');
  }

  /** The group's things, with those of its child groups when `recursive`, sorted. */
  members(ns: Namespace, name: string, recursive: boolean): string[] {
    const groups = [name, ...(recursive ? this.descendants(ns, name).map((g) => g.name) : [])];
    return [...new Set(groups.flatMap((g) => this.groups.membersOf(ns, g)))].sort();
  }

  /** Every group a thing is in, directly or as a member of a child group (policy inheritance, job targets). */
  groupsReaching(ns: Namespace, thingName: string): string[] {
    return [...new Set(this.groups.groupsOfThing(ns, thingName).flatMap((g) => this.lineage(ns, g)))];
  }

  listThings(ns: Namespace, name: string, q: { nextToken?: string; maxResults: number; recursive?: boolean }) {
    this.get(ns, name);
    const page = pageOf(this.members(ns, name, q.recursive ?? false), q.maxResults, q.nextToken);
    return { things: page.items, nextToken: page.next };
  }

  listForThing(ns: Namespace, thingName: string, q: { nextToken?: string; maxResults: number }) {
    if (!this.store.thing(ns, thingName)) throw notFound(`Thing ${thingName} cannot be found.`);
    const page = pageOf(this.groups.groupsOfThing(ns, thingName), q.maxResults, q.nextToken);
    return { thingGroups: page.items.map((g) => ({ groupName: g, groupArn: thingGroupArn(ns, g) })), nextToken: page.next };
  }

  private emit(ns: Namespace, op: 'created' | 'updated' | 'deleted', g: ThingGroupRow): void {
    const parent = g.parentName === null ? undefined : this.groups.group(ns, g.parentName);
    this.events.emit(ns, 'THING_GROUP', `$aws/events/thingGroup/${g.name}/${op}`, {
      operation: op.toUpperCase(),
      thingGroupId: g.id,
      thingGroupName: g.name,
      versionNumber: g.version,
      parentGroupName: g.parentName,
      parentGroupId: parent?.id ?? null,
      description: g.description,
      rootToParentThingGroups: this.ancestors(ns, g).map((a) => ({ groupArn: thingGroupArn(ns, a.name), groupId: a.id })),
      attributes: g.attributes,
      dynamicGroupMappingId: null,
    });
  }

  private async emitMembership(ns: Namespace, g: ThingGroupRow, thingName: string, op: 'added' | 'removed'): Promise<void> {
    await this.membershipChanged(ns, thingName);
    const thing = this.store.thing(ns, thingName);
    this.events.emit(ns, 'THING_GROUP_MEMBERSHIP', `$aws/events/thingGroupMembership/thingGroup/${g.name}/thing/${thingName}/${op}`, {
      operation: op.toUpperCase(),
      groupArn: thingGroupArn(ns, g.name),
      groupId: g.id,
      thingArn: thingArn(ns, thingName),
      thingId: thing?.thingId ?? null,
      membershipId: `${g.id}:${thing?.thingId ?? thingName}`,
    });
  }

  private emitHierarchy(ns: Namespace, parent: string, child: string, op: 'added' | 'removed'): void {
    this.events.emit(ns, 'THING_GROUP_HIERARCHY', `$aws/events/thingGroupHierarchy/thingGroup/${parent}/childThingGroup/${child}/${op}`, {
      operation: op.toUpperCase(),
      thingGroupId: this.groups.group(ns, parent)?.id ?? null,
      thingGroupName: parent,
      childGroupId: this.groups.group(ns, child)?.id ?? null,
      childGroupName: child,
    });
  }
}

function sameMap(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}
