/**
 * `lambda`: invokes a registered Thicket function (functions/) with the rule's output as its event.
 * AWS invokes the function asynchronously (Event); here the action runs off the routing path as
 * every action does, and waits for the function so that one which does not exist, fails or times
 * out is an action failure (`LambdaAction`, failedResource = the ARN) and reaches the error action.
 * A non-JSON output is given to the function as its base64 text (a JSON string), since an event is JSON.
 */
import { parseFunctionArn, resolveFunctionRef } from '../../functions/function-names.js';
import { ActionError, requiredString, violation, type ActionKind, type ActionMessage } from './types.js';

export const lambda: ActionKind = {
  key: 'lambda',
  awsName: 'LambdaAction',
  build(b) {
    const text = requiredString(b, 'functionArn');
    const functionArn = b.template(text, 'functionArn');
    if (!text.includes('${')) {
      // A literal ARN is checked now: it must name a function this rule's account and region may call.
      if (!parseFunctionArn(text))
        violation(
          `${b.path}.functionArn`,
          text,
          'Member must be a Lambda function ARN (arn:aws:lambda:<region>:<account>:function:<name>)',
        );
      const r = resolveFunctionRef(b.ns, text);
      if ('refused' in r) violation(`${b.path}.functionArn`, text, r.refused);
    }
    const services = b.services;
    return {
      resource: text,
      async run(m: ActionMessage) {
        const target = await m.render(functionArn);
        if (!parseFunctionArn(target)) throw new ActionError(`'${target}' is not a Lambda function ARN`, target);
        const invoke = services.invokeFunction;
        if (!invoke) throw new ActionError('This server has no function registry', target);
        const event: unknown = m.json ? JSON.parse(m.payload.toString('utf8')) : m.payload.toString('base64');
        try {
          await invoke(m.ns, target, event);
        } catch (err) {
          const e = err as Error & { errorType?: string };
          throw new ActionError(`${e.errorType ? `${e.errorType}: ` : ''}${e.message}`, target);
        }
      },
    };
  },
};
