/**
 * DescribeEndpoint (reference controlplane §1.4): Thicket's own public host, never an amazonaws.com
 * name. AWS returns a bare host; here it carries the HTTPS port unless that is 443, since callers
 * build `https://<address>` from it. Every listener's URL is also served at /endpoints.
 */
import type { ApiRoute } from './aws-api.js';
import { invalidRequest } from '../aws/errors.js';

export interface PublicEndpoints {
  host: string;
  mqtt: number | null;
  mqtts: number | null;
  http: number | null;
  https: number | null;
}

const TYPES = ['iot:Data', 'iot:Data-ATS', 'iot:CredentialProvider', 'iot:Jobs'];

/** Every listener as a URL (served at /endpoints). */
export function publicUrls(e: PublicEndpoints): Record<string, string | undefined> {
  const url = (scheme: string, port: number | null, path = ''): string | undefined =>
    port === null ? undefined : `${scheme}://${e.host}:${port}${path}`;
  return {
    mqtt: url('mqtt', e.mqtt),
    mqtts: url('mqtts', e.mqtts),
    ws: url('ws', e.http, '/mqtt'),
    wss: url('wss', e.https, '/mqtt'),
    http: url('http', e.http),
    https: url('https', e.https),
  };
}

export function endpointRoutes(endpoints: () => PublicEndpoints): ApiRoute[] {
  return [
    {
      method: 'GET',
      path: '/endpoint',
      service: 'iot',
      operation: 'DescribeEndpoint',
      readOnly: true,
      handler: (r) => {
        const type = r.query.endpointType ?? 'iot:Data';
        if (!TYPES.includes(type)) throw invalidRequest(`endpointType must be one of ${TYPES.join(', ')}, not '${type}'`);
        const e = endpoints();
        const port = e.https ?? e.http;
        return { endpointAddress: port === null || port === 443 ? e.host : `${e.host}:${port}` };
      },
    },
  ];
}
