/** HTTP routes of the topic-rule control plane, paths as the AWS SDK sends them (reference controlplane §4.1). */
import { firstValue, type ApiRoute } from '../api/aws-api.js';
import type { TopicRules } from './topic-rules.js';

export function ruleRoutes(rules: TopicRules): ApiRoute[] {
  return [
    {
      method: 'POST',
      path: '/rules/:ruleName',
      service: 'iot',
      operation: 'CreateTopicRule',
      handler: (r) => rules.create(r.ctx.ns, r.params.ruleName, r.body, firstValue(r.headers['x-amz-tagging'])),
    },
    {
      method: 'GET',
      path: '/rules/:ruleName',
      service: 'iot',
      operation: 'GetTopicRule',
      readOnly: true,
      handler: (r) => rules.get(r.ctx.ns, r.params.ruleName),
    },
    {
      method: 'PATCH',
      path: '/rules/:ruleName',
      service: 'iot',
      operation: 'ReplaceTopicRule',
      handler: (r) => rules.replace(r.ctx.ns, r.params.ruleName, r.body),
    },
    {
      method: 'DELETE',
      path: '/rules/:ruleName',
      service: 'iot',
      operation: 'DeleteTopicRule',
      handler: (r) => rules.delete(r.ctx.ns, r.params.ruleName),
    },
    {
      method: 'GET',
      path: '/rules',
      service: 'iot',
      operation: 'ListTopicRules',
      readOnly: true,
      handler: (r) => rules.list(r.ctx.ns, r.query),
    },
    {
      method: 'POST',
      path: '/rules/:ruleName/enable',
      service: 'iot',
      operation: 'EnableTopicRule',
      handler: (r) => rules.setDisabled(r.ctx.ns, r.params.ruleName, false),
    },
    {
      method: 'POST',
      path: '/rules/:ruleName/disable',
      service: 'iot',
      operation: 'DisableTopicRule',
      handler: (r) => rules.setDisabled(r.ctx.ns, r.params.ruleName, true),
    },
  ];
}
