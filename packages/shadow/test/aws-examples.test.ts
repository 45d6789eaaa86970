import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { applyUpdate, errorDocument, getResponse, parseUpdateRequest, ShadowError } from '../src/index.js';
import { compact, shadowOf, update } from './helpers.js';

describe('AWS documentation examples', () => {
  test('lights.color differing in g gives the nested delta', () => {
    const s = shadowOf({ state: { reported: { lights: { color: { r: 255, g: 0, b: 0 } } } } });
    const r = update(s, { state: { desired: { lights: { color: { r: 255, g: 255, b: 0 } } } } }, 200);
    assert.deepEqual(r.delta?.['state'], { lights: { color: { g: 255 } } });
    assert.deepEqual(r.delta?.['metadata'], { lights: { color: { g: { timestamp: 200 } } } });
  });

  test('partial desired update against a reported color', () => {
    const s = shadowOf({ state: { reported: { color: { r: 255, g: 255, b: 0 } } } });
    const r = update(s, { state: { desired: { color: { r: 10 }, engine: 'ON' } } }, 200);
    assert.deepEqual(r.delta?.['state'], { color: { r: 10 }, engine: 'ON' });
  });

  test('the simulated-device walkthrough, document for document', () => {
    const created = update(
      undefined,
      { state: { reported: { ID: 'SmartLamp21', ColorRGB: [128, 128, 128] } }, clientToken: '426bfd96-e720-46d3-95cd-014e3ef12bb6' },
      1591140517,
      { baseVersion: 2 },
    ).next;
    assert.equal(
      JSON.stringify(getResponse(created, 1591141111)),
      compact(`{"state":{"reported":{"ID":"SmartLamp21","ColorRGB":[128,128,128]}},"metadata":{"reported":{"ID":{"timestamp":1591140517},
        "ColorRGB":[{"timestamp":1591140517},{"timestamp":1591140517},{"timestamp":1591140517}]}},"version":3,"timestamp":1591141111}`),
    );

    const app = update(
      created,
      '{"state":{"desired":{"ColorRGB":[255,255,0]}},"clientToken":"21b21b21-bfd2-4279-8c65-e2f697ff4fab"}',
      1591141596,
    );
    const ts1 = '{"timestamp":1591141596}';
    assert.equal(
      JSON.stringify(app.accepted),
      compact(`{"state":{"desired":{"ColorRGB":[255,255,0]}},"metadata":{"desired":{"ColorRGB":[${ts1},${ts1},${ts1}]}},
        "version":4,"timestamp":1591141596,"clientToken":"21b21b21-bfd2-4279-8c65-e2f697ff4fab"}`),
    );
    assert.equal(
      JSON.stringify(app.delta),
      compact(`{"version":4,"timestamp":1591141596,"state":{"ColorRGB":[255,255,0]},"metadata":{"ColorRGB":[${ts1},${ts1},${ts1}]},
        "clientToken":"21b21b21-bfd2-4279-8c65-e2f697ff4fab"}`),
    );

    const device = update(
      app.next,
      '{"state":{"reported":{"ColorRGB":[255,255,0]}},"clientToken":"a4dc2227-9213-4c6a-a6a5-053304f60258"}',
      1591142747,
    );
    const ts0 = '{"timestamp":1591140517}';
    const ts2 = '{"timestamp":1591142747}';
    assert.equal(
      JSON.stringify(device.accepted),
      compact(`{"state":{"reported":{"ColorRGB":[255,255,0]}},"metadata":{"reported":{"ColorRGB":[${ts2},${ts2},${ts2}]}},
        "version":5,"timestamp":1591142747,"clientToken":"a4dc2227-9213-4c6a-a6a5-053304f60258"}`),
    );
    assert.equal(device.delta, undefined);
    assert.equal(
      JSON.stringify(device.documents),
      compact(`{"previous":{"state":{"desired":{"ColorRGB":[255,255,0]},"reported":{"ID":"SmartLamp21","ColorRGB":[128,128,128]}},
        "metadata":{"desired":{"ColorRGB":[${ts1},${ts1},${ts1}]},"reported":{"ID":${ts0},"ColorRGB":[${ts0},${ts0},${ts0}]}},"version":4},
        "current":{"state":{"desired":{"ColorRGB":[255,255,0]},"reported":{"ID":"SmartLamp21","ColorRGB":[255,255,0]}},
        "metadata":{"desired":{"ColorRGB":[${ts1},${ts1},${ts1}]},"reported":{"ID":${ts0},"ColorRGB":[${ts2},${ts2},${ts2}]}},"version":5},
        "timestamp":1591142747,"clientToken":"a4dc2227-9213-4c6a-a6a5-053304f60258"}`),
    );
  });

  test('optimistic locking: version 9 against 10 is rejected, version 10 accepted as 11', () => {
    const v10 = update(undefined, { state: { desired: { colors: ['RED', 'GREEN', 'BLUE'] } } }, 1, { baseVersion: 9 }).next;
    const stale = '{"state":{"desired":{"colors":["BLUE"]}},"version":9,"clientToken":"426bfd96-e720-46d3-95cd-014e3ef12bb6"}';
    const request = parseUpdateRequest(stale);
    assert.throws(
      () => applyUpdate(v10, request, { timestamp: 2 }),
      (err: unknown) => {
        assert.ok(err instanceof ShadowError);
        assert.deepEqual(errorDocument(err, 2, request.clientToken), {
          code: 409,
          message: 'Version conflict',
          timestamp: 2,
          clientToken: '426bfd96-e720-46d3-95cd-014e3ef12bb6',
        });
        return true;
      },
    );
    const ok = update(v10, { state: { desired: { colors: ['BLUE'] } }, version: 10 }, 3).next;
    assert.deepEqual([ok.state, ok.version], [{ desired: { colors: ['BLUE'] } }, 11]);
  });

  test('a device reporting and clearing desired in one request', () => {
    const s = shadowOf({ state: { desired: { color: 'RED' }, reported: { color: 'GREEN' } } });
    const r = update(s, { state: { reported: { color: 'red' }, desired: null } }, 200);
    assert.deepEqual(r.next.state, { reported: { color: 'red' } });
  });
});
