/** The packet decoder and encoder, checked against mqtt-packet (generator and parser). */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { Message, MqttProtocolError, PacketDecoder, type ClientPacket, type Properties } from '@thicket/broker';
import { encodeAck, encodeAuth, encodeConnack, encodeDisconnect, encodeSuback, encodeUnsuback, PINGRESP } from '../src/codec/encoder.js';
import { connectBytes, gen, rawPacket, str, varint, type Version } from './helpers.js';

type Pairs = Array<[string, string]>;

function pairs(up: Record<string, string | string[]> | undefined): Pairs | undefined {
  if (!up) return undefined;
  const out: Pairs = [];
  for (const [k, v] of Object.entries(up)) for (const x of Array.isArray(v) ? v : [v]) out.push([k, x]);
  return out;
}

/** mqtt-packet's property bag in the decoder's form (booleans as bytes, pairs for user properties). */
function props(p: Record<string, unknown> | undefined): Properties {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p ?? {})) {
    if (v === undefined) continue;
    if (k === 'userProperties') out[k] = pairs(v as Record<string, string | string[]>);
    else if (k === 'subscriptionIdentifier') out.subscriptionIdentifiers = [v];
    else if (typeof v === 'boolean') out[k] = v ? 1 : 0;
    else out[k] = v;
  }
  return out as Properties;
}

/** Decodes a whole stream (CONNECT first) and returns the packets after the CONNECT. */
function decodeStream(chunks: Buffer[], maxPacketSize = 1 << 20): ClientPacket[] {
  const out: ClientPacket[] = [];
  const d = new PacketDecoder({ maxPacketSize }, (p) => out.push(p));
  for (const c of chunks) d.feed(c);
  return out;
}

function decodeAfterConnect(version: Version, bytes: Buffer, maxPacketSize?: number): ClientPacket[] {
  return decodeStream([connectBytes(version), bytes], maxPacketSize).slice(1);
}

/** The reason code the decoder fails with. */
function failure(version: Version | 0, bytes: Buffer, maxPacketSize?: number): number {
  try {
    if (version === 0) decodeStream([bytes], maxPacketSize);
    else decodeAfterConnect(version, bytes, maxPacketSize);
  } catch (err) {
    assert.ok(err instanceof MqttProtocolError, `a protocol error, not ${String(err)}`);
    return err.code;
  }
  assert.fail('the decoder accepted the packet');
}

const USER = { region: 'eu', tag: ['a', 'b'], ключ: 'значение' };

/** Client packets as mqtt-packet generates them, and what the decoder should make of them. */
function clientPackets(version: Version): Array<{ name: string; packet: Packet; want: ClientPacket }> {
  const v5 = version === 5;
  const list: Array<{ name: string; packet: Packet; want: ClientPacket }> = [];
  const pubProps = v5
    ? {
        payloadFormatIndicator: true,
        messageExpiryInterval: 3600,
        topicAlias: 3,
        responseTopic: 'reply/to',
        correlationData: Buffer.from([1, 2, 3]),
        userProperties: USER,
        contentType: 'text/plain',
      }
    : undefined;
  for (const qos of [0, 1, 2] as const) {
    const packet: Packet = {
      cmd: 'publish',
      topic: `t/${qos}/ü`,
      payload: Buffer.from(`payload ${qos}`),
      qos,
      dup: qos > 0,
      retain: qos === 1,
      messageId: qos > 0 ? 1000 + qos : undefined,
      properties: pubProps,
    };
    list.push({
      name: `PUBLISH QoS ${qos}`,
      packet,
      want: {
        type: 'publish',
        qos,
        dup: qos > 0,
        retain: qos === 1,
        topic: `t/${qos}/ü`,
        packetId: qos > 0 ? 1000 + qos : 0,
        payload: Buffer.from(`payload ${qos}`),
        properties: props(pubProps),
      },
    });
  }
  list.push({
    name: 'PUBLISH with an empty payload',
    packet: { cmd: 'publish', topic: 'e', payload: Buffer.alloc(0), qos: 0, dup: false, retain: true },
    want: { type: 'publish', qos: 0, dup: false, retain: true, topic: 'e', packetId: 0, payload: Buffer.alloc(0), properties: {} },
  });
  for (const cmd of ['puback', 'pubrec', 'pubrel', 'pubcomp'] as const) {
    const ackProps = v5 ? { reasonString: `why ${cmd}`, userProperties: USER } : undefined;
    list.push({
      name: cmd.toUpperCase(),
      packet: { cmd, messageId: 77, reasonCode: v5 ? 0x10 : undefined, properties: ackProps } as Packet,
      want: { type: cmd, packetId: 77, reasonCode: v5 ? 0x10 : 0, properties: props(ackProps) },
    });
    list.push({
      name: `${cmd.toUpperCase()} (short form)`,
      packet: { cmd, messageId: 65535 } as Packet,
      want: { type: cmd, packetId: 65535, reasonCode: 0, properties: {} },
    });
  }
  const subProps = v5 ? { subscriptionIdentifier: 268_435_455, userProperties: USER } : undefined;
  list.push({
    name: 'SUBSCRIBE',
    packet: {
      cmd: 'subscribe',
      messageId: 5,
      subscriptions: [
        { topic: 'a/+', qos: 0, ...(v5 ? { nl: true, rap: false, rh: 2 } : {}) },
        { topic: 'b/#', qos: 1, ...(v5 ? { nl: false, rap: true, rh: 1 } : {}) },
        { topic: '$share/g/c', qos: 2, ...(v5 ? { nl: false, rap: false, rh: 0 } : {}) },
      ],
      properties: subProps,
    },
    want: {
      type: 'subscribe',
      packetId: 5,
      subscriptions: [
        { filter: 'a/+', qos: 0, noLocal: v5, retainAsPublished: false, retainHandling: v5 ? 2 : 0 },
        { filter: 'b/#', qos: 1, noLocal: false, retainAsPublished: v5, retainHandling: v5 ? 1 : 0 },
        { filter: '$share/g/c', qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      ],
      properties: props(subProps),
    },
  });
  const unsubProps = v5 ? { userProperties: USER } : undefined;
  list.push({
    name: 'UNSUBSCRIBE',
    packet: { cmd: 'unsubscribe', messageId: 6, unsubscriptions: ['a/+', 'b/#'], properties: unsubProps },
    want: { type: 'unsubscribe', packetId: 6, filters: ['a/+', 'b/#'], properties: props(unsubProps) },
  });
  list.push({ name: 'PINGREQ', packet: { cmd: 'pingreq' }, want: { type: 'pingreq' } });
  const discProps = v5 ? { sessionExpiryInterval: 0, reasonString: 'bye', userProperties: USER, serverReference: 'elsewhere' } : undefined;
  list.push({
    name: 'DISCONNECT',
    packet: { cmd: 'disconnect', reasonCode: v5 ? 0x04 : undefined, properties: discProps } as Packet,
    want: { type: 'disconnect', reasonCode: v5 ? 0x04 : 0, properties: props(discProps) },
  });
  if (v5) {
    const authProps = { authenticationMethod: 'SCRAM', authenticationData: Buffer.from('data'), reasonString: 'r', userProperties: USER };
    list.push({
      name: 'AUTH',
      packet: { cmd: 'auth', reasonCode: 0x18, properties: authProps },
      want: { type: 'auth', reasonCode: 0x18, properties: props(authProps) },
    });
  }
  return list;
}

function connectCases(): Array<{ name: string; version: Version; packet: mqttPacket.IConnectPacket; want: ClientPacket }> {
  const willProps = {
    willDelayInterval: 30,
    payloadFormatIndicator: true,
    messageExpiryInterval: 60,
    contentType: 'application/json',
    responseTopic: 'r/t',
    correlationData: Buffer.from('c'),
    userProperties: USER,
  };
  const connProps = {
    sessionExpiryInterval: 0xffffffff,
    receiveMaximum: 20,
    maximumPacketSize: 4096,
    topicAliasMaximum: 10,
    requestResponseInformation: true,
    requestProblemInformation: false,
    userProperties: USER,
    authenticationMethod: 'm',
    authenticationData: Buffer.from('d'),
  };
  const out = [];
  for (const version of [3, 4, 5] as const) {
    const v5 = version === 5;
    out.push({
      name: `CONNECT level ${version}, every field`,
      version,
      packet: {
        cmd: 'connect' as const,
        protocolId: version === 3 ? ('MQIsdp' as const) : ('MQTT' as const),
        protocolVersion: version,
        clean: false,
        keepalive: 65535,
        clientId: 'client-ü',
        username: 'user?SDK=x',
        password: Buffer.from([0, 1, 2]),
        will: { topic: 'will/t', payload: Buffer.from('will'), qos: 2 as const, retain: true, properties: v5 ? willProps : undefined },
        properties: v5 ? connProps : undefined,
      },
      want: {
        type: 'connect' as const,
        protocolName: version === 3 ? 'MQIsdp' : 'MQTT',
        protocolVersion: version,
        clean: false,
        keepAlive: 65535,
        clientId: 'client-ü',
        will: { topic: 'will/t', payload: Buffer.from('will'), qos: 2 as const, retain: true, properties: v5 ? props(willProps) : {} },
        username: 'user?SDK=x',
        password: Buffer.from([0, 1, 2]),
        properties: v5 ? props(connProps) : {},
      },
    });
    out.push({
      name: `CONNECT level ${version}, minimal`,
      version,
      packet: {
        cmd: 'connect' as const,
        protocolId: version === 3 ? ('MQIsdp' as const) : ('MQTT' as const),
        protocolVersion: version,
        clean: true,
        keepalive: 0,
        clientId: 'x',
      },
      want: {
        type: 'connect' as const,
        protocolName: version === 3 ? 'MQIsdp' : 'MQTT',
        protocolVersion: version,
        clean: true,
        keepAlive: 0,
        clientId: 'x',
        will: undefined,
        username: undefined,
        password: undefined,
        properties: {},
      },
    });
  }
  return out;
}

describe('decoder', () => {
  for (const c of connectCases()) {
    test(`${c.name} decodes to the same fields`, () => {
      const got = decodeStream([gen(c.packet, c.version)]);
      assert.equal(got.length, 1);
      assert.deepEqual(got[0], c.want);
    });
  }

  for (const version of [4, 5] as const) {
    test(`v${version}: every client packet generated by mqtt-packet decodes to the same fields`, () => {
      for (const c of clientPackets(version)) {
        const got = decodeAfterConnect(version, gen(c.packet, version));
        assert.equal(got.length, 1, c.name);
        assert.deepEqual(got[0], c.want, c.name);
      }
    });

    test(`v${version}: a stream split at every offset (and fed byte by byte) decodes the same`, () => {
      const cases = clientPackets(version);
      const stream = Buffer.concat([connectBytes(version, { clientId: 'split' }), ...cases.map((c) => gen(c.packet, version))]);
      const whole = decodeStream([stream]);
      assert.equal(whole.length, cases.length + 1);
      assert.deepEqual(
        whole.slice(1),
        cases.map((c) => c.want),
      );
      for (let at = 1; at < stream.length; at++) {
        assert.deepEqual(decodeStream([stream.subarray(0, at), stream.subarray(at)]), whole, `split at ${at}`);
      }
      const bytes: Buffer[] = [];
      for (let i = 0; i < stream.length; i++) bytes.push(stream.subarray(i, i + 1));
      assert.deepEqual(decodeStream(bytes), whole, 'byte by byte');
      // Three-way splits around packet boundaries.
      for (let at = 1; at + 7 < stream.length; at += 7) {
        assert.deepEqual(decodeStream([stream.subarray(0, at), stream.subarray(at, at + 7), stream.subarray(at + 7)]), whole);
      }
    });
  }

  test('the size passed along with each packet is its full length', () => {
    const sizes: number[] = [];
    const d = new PacketDecoder({ maxPacketSize: 1 << 20 }, (_p, size) => sizes.push(size));
    const c = connectBytes(4);
    const p = gen({ cmd: 'publish', topic: 't', payload: Buffer.alloc(300), qos: 0, dup: false, retain: false }, 4);
    d.feed(Buffer.concat([c, p]));
    assert.deepEqual(sizes, [c.length, p.length]);
  });

  describe('malformed input gets the right reason code', () => {
    const pubV5 = (body: Buffer): Buffer => rawPacket(0x30, Buffer.concat([str('t'), body]));
    const cases: Array<[string, Version | 0, Buffer, number]> = [
      ['first packet not CONNECT', 0, gen({ cmd: 'pingreq' }, 4), 0x82],
      ['first byte not CONNECT, before the rest of the packet arrives', 0, Buffer.from([0x47, 0x45, 0x54]), 0x82],
      ['packet type 0', 4, Buffer.from([0x00, 0x00]), 0x81],
      ['server-only packet type (CONNACK)', 4, Buffer.from([0x20, 0x02, 0, 0]), 0x82],
      ['second CONNECT', 4, connectBytes(4), 0x82],
      ['reserved flags of SUBSCRIBE', 4, rawPacket(0x80, Buffer.concat([Buffer.from([0, 1]), str('a'), Buffer.from([0])])), 0x81],
      ['reserved flags of PUBREL', 4, Buffer.from([0x60, 2, 0, 1]), 0x81],
      ['reserved flags of PINGREQ', 4, Buffer.from([0xc1, 0]), 0x81],
      ['reserved flags of DISCONNECT', 5, Buffer.from([0xe2, 0]), 0x81],
      ['PUBLISH QoS 3', 4, rawPacket(0x36, Buffer.concat([str('t'), Buffer.from([0, 1])])), 0x81],
      ['DUP on QoS 0', 4, rawPacket(0x38, str('t')), 0x81],
      ['Remaining Length longer than 4 bytes', 4, Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), 0x81],
      ['duplicate Content Type', 5, pubV5(Buffer.concat([varint(8), Buffer.from([0x03, 0, 1, 0x61, 0x03, 0, 1, 0x62])])), 0x82],
      ['duplicate Message Expiry Interval', 5, pubV5(Buffer.concat([varint(10), Buffer.from([0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 2])])), 0x82],
      [
        'duplicate Session Expiry Interval in DISCONNECT',
        5,
        rawPacket(0xe0, Buffer.from([0, 10, 0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2])),
        0x82,
      ],
      ['unknown property', 5, pubV5(Buffer.concat([varint(2), Buffer.from([0x7f, 0])])), 0x81],
      ['property not allowed in PUBLISH (Session Expiry)', 5, pubV5(Buffer.concat([varint(5), Buffer.from([0x11, 0, 0, 0, 1])])), 0x81],
      ['Subscription Identifier in a client PUBLISH', 5, pubV5(Buffer.concat([varint(2), Buffer.from([0x0b, 1])])), 0x81],
      ['property length past the end', 5, pubV5(Buffer.from([20, 0x01])), 0x81],
      ['Topic Alias 0', 5, pubV5(Buffer.concat([varint(3), Buffer.from([0x23, 0, 0])])), 0x94],
      ['Payload Format Indicator 2', 5, pubV5(Buffer.concat([varint(2), Buffer.from([0x01, 2])])), 0x82],
      ['invalid UTF-8 in a topic', 4, rawPacket(0x30, str(Buffer.from([0x61, 0xc3]))), 0x81],
      ['overlong UTF-8 in a topic', 4, rawPacket(0x30, str(Buffer.from([0xc0, 0xaf]))), 0x81],
      ['encoded surrogate in a topic', 4, rawPacket(0x30, str(Buffer.from([0xed, 0xb0, 0x80]))), 0x81],
      ['U+0000 in a topic', 4, rawPacket(0x30, str(Buffer.from('a\u0000b'))), 0x81],
      ['U+0000 after non-ASCII in a topic', 4, rawPacket(0x30, str(Buffer.from('ü\u0000'))), 0x81],
      ['invalid UTF-8 in a user property', 5, pubV5(Buffer.concat([varint(7), Buffer.from([0x26, 0, 1, 0xff, 0, 1, 0x61])])), 0x81],
      ['string running past the end', 4, rawPacket(0x30, Buffer.from([0, 10, 0x61])), 0x81],
      ['PUBLISH packet id 0', 4, rawPacket(0x32, Buffer.concat([str('t'), Buffer.from([0, 0])])), 0x81],
      ['PUBACK packet id 0', 4, Buffer.from([0x40, 2, 0, 0]), 0x81],
      ['SUBSCRIBE packet id 0', 4, rawPacket(0x82, Buffer.concat([Buffer.from([0, 0]), str('a'), Buffer.from([0])])), 0x81],
      ['UNSUBSCRIBE packet id 0', 4, rawPacket(0xa2, Buffer.concat([Buffer.from([0, 0]), str('a')])), 0x81],
      ['trailing bytes on PUBACK (3.1.1)', 4, Buffer.from([0x40, 3, 0, 1, 0]), 0x81],
      ['trailing bytes on PINGREQ', 4, Buffer.from([0xc0, 1, 0]), 0x81],
      ['trailing bytes on DISCONNECT (3.1.1)', 4, Buffer.from([0xe0, 1, 0]), 0x81],
      ['trailing bytes after the properties of PUBACK', 5, Buffer.from([0x40, 5, 0, 1, 0, 0, 9]), 0x81],
      ['SUBSCRIBE without filters', 4, rawPacket(0x82, Buffer.from([0, 1])), 0x82],
      ['SUBSCRIBE without filters (v5)', 5, rawPacket(0x82, Buffer.from([0, 1, 0])), 0x82],
      ['UNSUBSCRIBE without filters', 4, rawPacket(0xa2, Buffer.from([0, 1])), 0x82],
      ['SUBSCRIBE filter without options byte', 4, rawPacket(0x82, Buffer.concat([Buffer.from([0, 1]), str('a')])), 0x81],
      ['SUBSCRIBE requested QoS 3', 4, rawPacket(0x82, Buffer.concat([Buffer.from([0, 1]), str('a'), Buffer.from([3])])), 0x81],
      [
        'SUBSCRIBE reserved option bits (3.1.1)',
        4,
        rawPacket(0x82, Buffer.concat([Buffer.from([0, 1]), str('a'), Buffer.from([0x04])])),
        0x81,
      ],
      [
        'SUBSCRIBE reserved option bits (v5)',
        5,
        rawPacket(0x82, Buffer.concat([Buffer.from([0, 1, 0]), str('a'), Buffer.from([0x40])])),
        0x81,
      ],
      ['SUBSCRIBE Retain Handling 3', 5, rawPacket(0x82, Buffer.concat([Buffer.from([0, 1, 0]), str('a'), Buffer.from([0x30])])), 0x82],
      ['Subscription Identifier 0', 5, rawPacket(0x82, Buffer.concat([Buffer.from([0, 1, 2, 0x0b, 0]), str('a'), Buffer.from([0])])), 0x82],
      [
        'Variable Byte Integer longer than 4 bytes',
        5,
        rawPacket(0x82, Buffer.concat([Buffer.from([0, 1, 6, 0x0b, 0xff, 0xff, 0xff, 0xff, 1]), str('a'), Buffer.from([0])])),
        0x81,
      ],
      ['AUTH in MQTT 3.1.1', 4, Buffer.from([0xf0, 0]), 0x81],
    ];
    for (const [name, version, bytes, code] of cases) {
      test(`${name} -> 0x${code.toString(16)}`, () => {
        assert.equal(failure(version, bytes), code);
      });
    }

    const connectCase = (name: string, mutate: (b: Buffer) => Buffer, code: number, version: Version = 4, fields = {}): void => {
      test(`CONNECT: ${name} -> 0x${code.toString(16)}`, () => {
        assert.equal(failure(0, mutate(connectBytes(version, fields))), code);
      });
    };
    // Offsets in a short CONNECT: [0] type, [1] length, [2..7] "MQTT", [8] level, [9] flags, [10..11] keep-alive.
    connectCase('unknown protocol name', (b) => (b.write('MQTX', 4, 'latin1'), b), 0x84);
    connectCase('protocol level 6', (b) => ((b[8] = 6), b), 0x84);
    connectCase('MQTT with level 3', (b) => ((b[8] = 3), b), 0x84);
    connectCase('reserved connect flag', (b) => ((b[9]! |= 1), b), 0x81);
    connectCase('Will QoS 3 (with will)', (b) => ((b[9]! |= 0x18), b), 0x81, 4, {
      will: { topic: 'w', payload: Buffer.from('x'), qos: 0, retain: false },
    });
    connectCase('Will QoS without a will', (b) => ((b[9]! |= 0x08), b), 0x81);
    connectCase('Will Retain without a will', (b) => ((b[9]! |= 0x20), b), 0x81);
    connectCase('password without user name (3.1.1)', (b) => ((b[9]! |= 0x40), b), 0x81);
    connectCase('truncated client id', (b) => rawPacket(b[0]!, b.subarray(2, b.length - 1)), 0x81);
    connectCase('Receive Maximum 0', (b) => (b.writeUInt16BE(0, b.indexOf(Buffer.from([0x21, 0, 9])) + 1), b), 0x82, 5, {
      properties: { receiveMaximum: 9 },
    });
    connectCase('Maximum Packet Size 0', (b) => (b.writeUInt32BE(0, b.indexOf(Buffer.from([0x27, 0, 0, 0, 9])) + 1), b), 0x82, 5, {
      properties: { maximumPacketSize: 9 },
    });
    connectCase('Request Problem Information 2', (b) => ((b[b.indexOf(Buffer.from([0x17, 1])) + 1] = 2), b), 0x82, 5, {
      properties: { requestProblemInformation: true },
    });
    connectCase('Authentication Data without Method', (b) => ((b[b.indexOf(Buffer.from([0x15, 0, 1, 0x6d]))] = 0x26), b), 0x81, 5, {
      properties: { authenticationMethod: 'm', authenticationData: Buffer.from('d') },
    });

    test('oversize packet is refused from its fixed header, before the body arrives', () => {
      const d = new PacketDecoder({ maxPacketSize: 100 }, () => {});
      d.feed(connectBytes(4));
      // Remaining length 1000: 0xe8 0x07.
      assert.throws(
        () => d.feed(Buffer.from([0x30, 0xe8, 0x07])),
        (err) => err instanceof MqttProtocolError && err.code === 0x95,
      );
      // Exactly the limit passes; one more byte fails (the limit counts the fixed header).
      const at = (total: number): Buffer => rawPacket(0x30, Buffer.concat([str('t'), Buffer.alloc(total - 2 - 3)]));
      assert.equal(at(100).length, 100);
      assert.equal(decodeStream([connectBytes(4), at(100)], 100).length, 2);
      assert.equal(failure(4, at(101), 100), 0x95);
      // Header split over two chunks is still caught before the body.
      const e = new PacketDecoder({ maxPacketSize: 100 }, () => {});
      e.feed(connectBytes(4));
      e.feed(Buffer.from([0x30, 0xe8]));
      assert.throws(
        () => e.feed(Buffer.from([0x07])),
        (err) => err instanceof MqttProtocolError && err.code === 0x95,
      );
    });

    test('a partial packet waits for more bytes without error', () => {
      const out: ClientPacket[] = [];
      const d = new PacketDecoder({ maxPacketSize: 1 << 20 }, (p) => out.push(p));
      d.feed(connectBytes(4));
      const p = gen({ cmd: 'publish', topic: 'abc', payload: Buffer.alloc(1000, 1), qos: 0, dup: false, retain: false }, 4);
      d.feed(p.subarray(0, 1));
      d.feed(p.subarray(1, 3));
      d.feed(p.subarray(3, 500));
      assert.equal(out.length, 1);
      d.feed(p.subarray(500));
      assert.equal(out.length, 2);
    });
  });
});

describe('encoder', () => {
  function parse(version: Version, bytes: Buffer): Packet[] {
    const out: Packet[] = [];
    const parser = mqttPacket.parser({ protocolVersion: version });
    parser.on('packet', (p: Packet) => out.push(p));
    parser.on('error', (err: Error) => {
      throw err;
    });
    parser.parse(bytes);
    return out;
  }
  const one = (version: Version, bytes: Buffer): Record<string, unknown> => {
    const ps = parse(version, bytes);
    assert.equal(ps.length, 1);
    return ps[0] as unknown as Record<string, unknown>;
  };

  test('CONNACK v3.1.1 and v5 (with properties)', () => {
    const c4 = one(4, encodeConnack(false, true, 0));
    assert.equal(c4.cmd, 'connack');
    assert.equal(c4.sessionPresent, true);
    assert.equal(c4.returnCode, 0);
    assert.equal(one(4, encodeConnack(false, false, 5)).returnCode, 5);
    const p: Properties = {
      sessionExpiryInterval: 30,
      receiveMaximum: 100,
      maximumQoS: 1,
      retainAvailable: 0,
      maximumPacketSize: 131072,
      assignedClientIdentifier: 'gen-1',
      topicAliasMaximum: 8,
      reasonString: 'fine',
      wildcardSubscriptionAvailable: 1,
      subscriptionIdentifierAvailable: 0,
      sharedSubscriptionAvailable: 1,
      serverKeepAlive: 1200,
      userProperties: [
        ['k', '1'],
        ['k', '2'],
      ],
    };
    const c5 = one(5, encodeConnack(true, false, 0x87, p));
    assert.equal(c5.reasonCode, 0x87);
    assert.deepEqual(c5.properties, {
      sessionExpiryInterval: 30,
      receiveMaximum: 100,
      maximumQoS: 1,
      retainAvailable: false,
      maximumPacketSize: 131072,
      assignedClientIdentifier: 'gen-1',
      topicAliasMaximum: 8,
      reasonString: 'fine',
      wildcardSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: false,
      sharedSubscriptionAvailable: true,
      serverKeepAlive: 1200,
      userProperties: Object.assign(Object.create(null) as object, { k: ['1', '2'] }),
    });
    assert.equal(one(5, encodeConnack(true, false, 0)).reasonCode, 0);
  });

  test('PUBACK, PUBREC, PUBREL, PUBCOMP in both versions, short and long forms', () => {
    for (const type of [4, 5, 6, 7] as const) {
      const cmd = ['puback', 'pubrec', 'pubrel', 'pubcomp'][type - 4];
      const a = one(4, encodeAck(type, 513, false));
      assert.deepEqual([a.cmd, a.messageId], [cmd, 513]);
      const short = encodeAck(type, 1, true);
      assert.equal(short.length, 4, 'success without properties uses the short form');
      assert.equal(one(5, short).messageId, 1);
      // Reason codes valid for the type: PUBREL/PUBCOMP know only 0x92 as an error.
      const code = type === 4 || type === 5 ? 0x87 : 0x92;
      const long = one(5, encodeAck(type, 2, true, code, { reasonString: 'why' }));
      assert.deepEqual([long.cmd, long.messageId, long.reasonCode], [cmd, 2, code]);
      assert.equal((long.properties as { reasonString?: string }).reasonString, 'why');
      assert.equal(one(5, encodeAck(type, 3, true, code)).reasonCode, code);
    }
  });

  test('SUBACK, UNSUBACK, PINGRESP, DISCONNECT, AUTH', () => {
    assert.deepEqual(one(4, encodeSuback(9, [0, 1, 2, 0x80], false)).granted, [0, 1, 2, 0x80]);
    const s5 = one(5, encodeSuback(9, [0, 0x8f, 0x97], true, { reasonString: 'r' }));
    assert.deepEqual(s5.granted, [0, 0x8f, 0x97]);
    assert.equal((s5.properties as { reasonString: string }).reasonString, 'r');
    assert.equal(one(4, encodeUnsuback(10, [0], false)).messageId, 10);
    assert.deepEqual(one(5, encodeUnsuback(10, [0, 0x11, 0x8f], true)).granted, [0, 0x11, 0x8f]);
    assert.equal(one(4, PINGRESP).cmd, 'pingresp');
    const d = one(5, encodeDisconnect(0x8e, { reasonString: 'taken over' }));
    assert.equal(d.reasonCode, 0x8e);
    assert.equal((d.properties as { reasonString: string }).reasonString, 'taken over');
    assert.equal(one(5, encodeDisconnect(0)).reasonCode, 0);
    const au = one(5, encodeAuth(0x18, { authenticationMethod: 'm', authenticationData: Buffer.from('d') }));
    assert.equal(au.reasonCode, 0x18);
    assert.equal((au.properties as { authenticationMethod: string }).authenticationMethod, 'm');
  });

  test('PUBLISH from Message.encode: both versions, all forwarded properties, per-receiver fields, packet id patching', () => {
    const msg = new Message('a/b/ü', Buffer.from('payload'), 2, true, {
      payloadFormatIndicator: 1,
      contentType: 'text/plain',
      responseTopic: 'resp',
      correlationData: Buffer.from([9, 8]),
      userProperties: [
        ['x', '1'],
        ['y', '2'],
        ['x', '3'],
      ],
    });
    const now = Date.now();
    const p4 = one(4, msg.encode(false, 1, false, false, 300, now));
    assert.deepEqual(
      [p4.topic, p4.qos, p4.retain, p4.dup, p4.messageId, (p4.payload as Buffer).toString()],
      ['a/b/ü', 1, false, false, 300, 'payload'],
    );
    assert.equal(p4.properties, undefined);
    const first = msg.encode(true, 2, true, false, 1, now);
    const second = msg.encode(true, 2, true, false, 2, now);
    assert.equal(one(5, first).messageId, 1, 'the cached template is copied, not patched in place');
    assert.equal(one(5, second).messageId, 2);
    const p5 = one(5, second);
    assert.deepEqual(p5.properties, {
      payloadFormatIndicator: true,
      contentType: 'text/plain',
      responseTopic: 'resp',
      correlationData: Buffer.from([9, 8]),
      userProperties: Object.assign(Object.create(null) as object, { x: ['1', '3'], y: '2' }),
    });
    const q0 = one(5, msg.encode(true, 0, false, false, 0, now));
    assert.equal(q0.qos, 0);
    assert.equal(q0.messageId, undefined);
    const dup = one(5, msg.encode(true, 1, false, true, 77, now, { subscriptionIdentifiers: [1, 200000], topicAlias: 4 }));
    assert.equal(dup.dup, true);
    assert.equal(dup.messageId, 77);
    assert.deepEqual((dup.properties as { subscriptionIdentifier: number[] }).subscriptionIdentifier, [1, 200000]);
    assert.equal((dup.properties as { topicAlias: number }).topicAlias, 4);
    const aliased = one(5, msg.encode(true, 1, false, false, 78, now, { topicAlias: 4, omitTopic: true }));
    assert.equal(aliased.topic, '');
    // Large payloads need a multi-byte Remaining Length.
    const big = new Message('t', Buffer.alloc(300_000, 7), 1, false);
    const pb = one(5, big.encode(true, 1, false, false, 5, now));
    assert.equal((pb.payload as Buffer).length, 300_000);
  });

  test('PUBLISH with a message expiry carries the remaining interval', () => {
    const created = Date.now() - 2500;
    const msg = new Message('t', Buffer.from('x'), 1, false, { messageExpiryInterval: 10 }, created);
    const p = one(5, msg.encode(true, 1, false, false, 1, Date.now()));
    assert.equal((p.properties as { messageExpiryInterval: number }).messageExpiryInterval, 8);
    assert.equal(msg.expired(Date.now()), false);
    assert.equal(msg.expired(created + 10_000), true);
  });
});
