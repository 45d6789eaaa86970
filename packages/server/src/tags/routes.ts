/** TagResource, UntagResource and ListTagsForResource: for a resource of any capability, in the caller's namespace. */
import { parseArn, type Namespace } from '../accounts/namespace.js';
import type { ApiRoute } from '../api/aws-api.js';
import { pageOf } from '../api/pagination.js';
import { invalidRequest, notFound } from '../aws/errors.js';
import { checkTags } from '../registry/validation.js';
import type { TagStore } from './tag-store.js';

const MAX_RESULTS = 250;

export function tagRoutes(store: TagStore, resourceExists: (arn: string) => boolean): ApiRoute[] {
  const taggable = (ns: Namespace, arn: unknown): string => {
    if (typeof arn !== 'string') throw invalidRequest('resourceArn is required');
    const p = parseArn(arn);
    if (!p || p.accountId !== ns.accountId || p.region !== ns.region || !resourceExists(arn))
      throw notFound(`Resource ${arn} cannot be found.`);
    return arn;
  };
  return [
    {
      method: 'POST',
      path: '/tags',
      service: 'iot',
      operation: 'TagResource',
      handler: async (r) => {
        const arn = taggable(r.ctx.ns, r.body.resourceArn);
        await store.put(arn, checkTags(r.body.tags));
        return {};
      },
    },
    {
      method: 'POST',
      path: '/untag',
      service: 'iot',
      operation: 'UntagResource',
      handler: async (r) => {
        const arn = taggable(r.ctx.ns, r.body.resourceArn);
        const keys = r.body.tagKeys;
        if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'string')) throw invalidRequest('tagKeys must be a list of strings');
        await store.remove(arn, keys as string[]);
        return {};
      },
    },
    {
      method: 'GET',
      path: '/tags',
      service: 'iot',
      operation: 'ListTagsForResource',
      readOnly: true,
      handler: async (r) => {
        const arn = taggable(r.ctx.ns, r.query.resourceArn);
        const page = pageOf(await store.list(arn), MAX_RESULTS, r.query.nextToken);
        return { tags: page.items, nextToken: page.next };
      },
    },
  ];
}
