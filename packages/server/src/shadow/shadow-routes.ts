/**
 * The iot-data shadow operations (reference controlplane §6): GetThingShadow, UpdateThingShadow,
 * DeleteThingShadow and ListNamedShadowsForThing, for SigV4 callers and for devices presenting their
 * certificate (policy actions iot:GetThingShadow etc. on `thing/<thing>[/<shadow>]`). Errors are
 * only HTTP errors: nothing is published to `/rejected` for HTTP callers.
 */
import { ShadowError } from '@thicket/shadow';
import { iotArn } from '../accounts/namespace.js';
import { RawReply, type ApiRequest, type ApiRoute } from '../api/aws-api.js';
import { decodeToken, encodeToken, pageSize } from '../api/pagination.js';
import { AwsError } from '../aws/errors.js';
import type { ShadowService } from './shadow-service.js';
import type { ShadowAddress } from './shadow-topics.js';

/** The iot-data exception of each status the shadow service answers with. */
const EXCEPTIONS: Record<number, string> = {
  400: 'InvalidRequestException',
  401: 'UnauthorizedException',
  403: 'ForbiddenException',
  404: 'ResourceNotFoundException',
  409: 'ConflictException',
  413: 'RequestEntityTooLargeException',
  415: 'UnsupportedDocumentEncodingException',
  429: 'ThrottlingException',
  500: 'InternalFailureException',
};

function asAwsError(err: unknown): unknown {
  if (!(err instanceof ShadowError)) return err;
  return new AwsError(EXCEPTIONS[err.code] ?? 'InternalFailureException', err.code, err.message);
}

function address(r: ApiRequest): ShadowAddress {
  return { thingName: r.params.thingName!, shadowName: r.query.name ?? '' };
}

/** Runs a shadow operation after the caller's policy allows `action` on the shadow's thing resource. */
function shadowCall(action: string, fn: (r: ApiRequest, a: ShadowAddress) => Promise<unknown>): (r: ApiRequest) => Promise<unknown> {
  return async (r) => {
    const a = address(r);
    r.ctx.authorize(action, iotArn(r.ctx.ns, a.shadowName === '' ? `thing/${a.thingName}` : `thing/${a.thingName}/${a.shadowName}`));
    try {
      return new RawReply(JSON.stringify(await fn(r, a)));
    } catch (err) {
      throw asAwsError(err);
    }
  };
}

export function shadowRoutes(service: ShadowService): ApiRoute[] {
  const path = '/things/:thingName/shadow';
  return [
    {
      method: 'GET',
      path,
      service: 'iotdata',
      operation: 'GetThingShadow',
      readOnly: true,
      device: true,
      handler: shadowCall('iot:GetThingShadow', (r, a) => service.get(r.ctx.ns, a)),
    },
    {
      method: 'POST',
      path,
      service: 'iotdata',
      operation: 'UpdateThingShadow',
      rawBody: true,
      device: true,
      handler: shadowCall('iot:UpdateThingShadow', (r, a) => service.update(r.ctx.ns, a, r.rawBody)),
    },
    {
      method: 'DELETE',
      path,
      service: 'iotdata',
      operation: 'DeleteThingShadow',
      device: true,
      handler: shadowCall('iot:DeleteThingShadow', (r, a) => service.delete(r.ctx.ns, a)),
    },
    {
      method: 'GET',
      path: '/api/things/shadow/ListNamedShadowsForThing/:thingName',
      service: 'iotdata',
      operation: 'ListNamedShadowsForThing',
      readOnly: true,
      device: true,
      handler: async (r) => {
        const thingName = r.params.thingName!;
        r.ctx.authorize('iot:ListNamedShadowsForThing', iotArn(r.ctx.ns, `thing/${thingName}`));
        const size = pageSize(r.query.pageSize, 'pageSize', 100);
        try {
          const page = await service.listNamed(r.ctx.ns, thingName, size, decodeToken<string>(r.query.nextToken, 'nextToken'));
          return { results: page.results, nextToken: page.nextToken && encodeToken(page.nextToken), timestamp: page.timestamp };
        } catch (err) {
          throw asAwsError(err);
        }
      },
    },
  ];
}
