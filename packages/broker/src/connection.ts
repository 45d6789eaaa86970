/**
 * One client connection: decodes its packets, runs the MQTT state machine (CONNECT, publish flows,
 * subscribe, keep-alive, flow control, topic aliases) and writes to it. Session state lives in
 * Session; routing in Broker.
 */
import { randomUUID } from 'node:crypto';
import { PacketDecoder } from './codec/decoder.js';
import { encodeAck, encodeConnack, encodeDisconnect, PINGRESP } from './codec/encoder.js';
import type {
  AckPacket,
  ClientPacket,
  ConnectPacket,
  DisconnectPacket,
  Properties,
  ProtocolVersion,
  PublishPacket,
  QoS,
  SubscribePacket,
  UnsubscribePacket,
  WillPacket,
} from './codec/packets.js';
import { PacketType } from './codec/packets.js';
import { connackCodeV3, MqttProtocolError, RC } from './codec/reason-codes.js';
import type { ConnectionHost } from './connection-host.js';
import { askedExpiry, connackProperties, connectRefusal, grantedKeepAlive, KIND_OF_ERROR, publishRefusal } from './client-rules.js';
import { InboundQuota } from './inbound-quota.js';
import type { RouteOutcome } from './broker-types.js';
import type { ClientInfo, DisconnectReason } from './hooks.js';
import { parseUsername } from './hooks.js';
import { forwardedProperties, Message } from './message.js';
import type { Delivery, Session, SessionLink } from './session.js';
import { handleSubscribe, handleUnsubscribe } from './subscribe-handler.js';
import type { Transport } from './transport/transport.js';

type State = 'connecting' | 'authenticating' | 'open' | 'closed';

interface PendingAck {
  packetId: number;
  qos: 1 | 2;
  code: number;
  reason: string | undefined;
  /** Conditions still to be met before it may be sent. */
  waits: number;
}

export class Connection implements SessionLink {
  readonly id = randomUUID();
  state: State = 'connecting';
  version: ProtocolVersion | 0 = 0;
  v5 = false;
  client: ClientInfo | undefined;
  session: Session | null = null;
  readonly openedAt = Date.now();
  lastActivity = Date.now();
  /** Effective keep-alive in ms; 0 = none. */
  keepAliveMs = 0;
  will: WillPacket | undefined;
  /** Set when the session was taken over, so closing does not end the new owner's session. */
  detachedReason: DisconnectReason | undefined;

  private readonly decoder: PacketDecoder;
  /** Packets read while authenticating or while input is paused; processed in order afterwards. */
  private hold: Array<[ClientPacket, number]> | null = null;
  /** True while reading is paused because too many publishes wait for their acknowledgement. */
  inputPaused = false;
  private disconnectReceived = false;
  private inboundAliases: Map<number, string> | null = null;
  /** PUBACK/PUBREC not yet sent, in publish order (acks keep that order, MQTT 5 §4.6). */
  private acks: Array<PendingAck | undefined> = [];
  private ackHead = 0;
  /** Reused by onPublish to learn which subscribers hold the publisher back, or refused the message. */
  private readonly routed: RouteOutcome = { congested: [], refused: false };
  private readonly quota = new InboundQuota();
  /** Whether an MQTT 5 client over its Receive Maximum is disconnected (0x93) rather than paused. */
  private enforceReceiveMaximum = false;
  private clientReceiveMaximum = 65_535;
  private clientMaxPacketSize = Number.MAX_SAFE_INTEGER;
  private outboundAliasMax = 0;
  private outboundAliases: Map<string, number> | null = null;
  private problemInformation = true;
  private lifetimeTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly broker: ConnectionHost<Connection>,
    readonly transport: Transport,
  ) {
    this.decoder = new PacketDecoder({ maxPacketSize: broker.config.maxPacketSize }, (p, size) => this.onPacket(p, size));
    transport.bind({
      onData: (chunk) => this.onData(chunk),
      onClose: () => this.onTransportClose(),
      onDrain: () => this.session?.drain(),
    });
  }

  get clientId(): string | undefined {
    return this.client?.clientId;
  }

  // ---- input ---------------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    this.lastActivity = Date.now();
    try {
      this.decoder.feed(chunk);
    } catch (err) {
      if (err instanceof MqttProtocolError) this.protocolViolation(err);
      else this.fail(err);
    }
  }

  private onPacket(p: ClientPacket, size: number): void {
    if (this.state === 'closed') return;
    if (this.hold) {
      this.hold.push([p, size]);
      return;
    }
    this.broker.stats.packetsIn++;
    switch (p.type) {
      case 'connect':
        void this.onConnect(p);
        return;
      case 'publish':
        this.onPublish(p, size);
        return;
      case 'puback':
      case 'pubcomp':
        this.onDeliveryAck(p);
        return;
      case 'pubrec':
        this.onPubrec(p);
        return;
      case 'pubrel':
        this.onPubrel(p);
        return;
      case 'subscribe':
        this.onSubscribe(p);
        return;
      case 'unsubscribe':
        this.onUnsubscribe(p);
        return;
      case 'pingreq':
        this.transport.write(PINGRESP);
        return;
      case 'disconnect':
        this.onDisconnect(p);
        return;
      case 'auth':
        // Enhanced authentication is not offered, so an AUTH packet is unexpected (MQTT 5 §4.12).
        this.protocolViolation(new MqttProtocolError(RC.PROTOCOL_ERROR, 'AUTH without an authentication method'));
        return;
    }
  }

  /** Bad input: the reason code for MQTT 5 clients, a closed connection for older ones. */
  protocolViolation(err: MqttProtocolError): void {
    const kind = KIND_OF_ERROR[err.code] ?? 'protocol_error';
    this.broker.stats.countProtocolError(kind);
    this.broker.log.debug({ clientId: this.clientId, remote: this.transport.info.remoteAddress, err: err.message }, 'protocol violation');
    if (this.state === 'connecting' || this.state === 'authenticating') {
      // Before CONNACK an MQTT 5 client gets a CONNACK with the reason (§4.13.1); others just a close.
      if (this.decoder.version === 5 || (err.code === RC.UNSUPPORTED_PROTOCOL_VERSION && this.decoder.version === 0)) {
        this.refuse(err.code, err.message, this.decoder.version === 5);
      } else if (err.code === RC.UNSUPPORTED_PROTOCOL_VERSION) {
        this.refuse(err.code, err.message, false);
      } else {
        this.terminate('CLIENT_ERROR');
      }
      return;
    }
    this.terminate('CLIENT_ERROR', err.code, err.message);
  }

  private fail(err: unknown): void {
    this.broker.log.error({ clientId: this.clientId, err }, 'internal error while handling a packet');
    this.terminate('SERVER_ERROR', RC.UNSPECIFIED_ERROR, 'internal error');
  }

  // ---- CONNECT -------------------------------------------------------------------------------

  private async onConnect(p: ConnectPacket): Promise<void> {
    const broker = this.broker;
    const cfg = broker.config;
    this.version = p.protocolVersion;
    this.v5 = p.protocolVersion === 5;
    const props = p.properties;

    let clientId = p.clientId;
    let assigned = false;
    if (clientId.length === 0) {
      if (!this.v5 && !p.clean) return this.refuse(RC.CLIENT_IDENTIFIER_NOT_VALID, 'an empty client id needs a clean session');
      clientId = `thicket-${randomUUID()}`;
      assigned = true;
    }
    const refused = connectRefusal(p, clientId, broker);
    if (refused) return this.refuse(refused.code, refused.reason);

    const keepAlive = grantedKeepAlive(p.keepAlive, cfg);
    this.keepAliveMs = keepAlive * 1000;
    const expiry = Math.min(askedExpiry(p, cfg), cfg.maxSessionExpiry);

    if (this.v5) {
      this.enforceReceiveMaximum = cfg.receiveMaximumExceeded === 'disconnect';
      if (props.receiveMaximum !== undefined) this.clientReceiveMaximum = props.receiveMaximum;
      if (props.maximumPacketSize !== undefined) this.clientMaxPacketSize = props.maximumPacketSize;
      if (props.topicAliasMaximum) this.outboundAliasMax = props.topicAliasMaximum;
      if (props.requestProblemInformation === 0) this.problemInformation = false;
    }

    const { username, query } = parseUsername(p.username);
    this.state = 'authenticating';
    this.hold = [];
    let auth;
    try {
      auth = await broker.hooks.authenticate({
        clientId,
        clientIdAssigned: assigned,
        username,
        usernameQuery: query,
        password: p.password,
        protocolVersion: p.protocolVersion,
        clean: p.clean,
        keepAlive: p.keepAlive,
        will: p.will ? { topic: p.will.topic, qos: p.will.qos, retain: p.will.retain } : undefined,
        properties: props,
        transport: this.transport.info,
      });
    } catch (err) {
      broker.log.warn({ clientId, err: err instanceof Error ? err.message : String(err) }, 'authentication failed with an error');
      auth = { reasonCode: RC.NOT_AUTHORIZED, reasonString: 'authentication failed' };
    }
    if ((this.state as State) === 'closed') return;
    if (auth.reasonCode !== RC.SUCCESS) {
      broker.emit('client:connectFailed', {
        clientId,
        reasonCode: auth.reasonCode,
        transport: this.transport.info,
        principal: auth.principal,
        mount: auth.mount,
      });
      return this.refuse(auth.reasonCode, auth.reasonString ?? 'not authorized');
    }
    // Again: other clients may have completed CONNECT while this one was being authenticated.
    if (cfg.maxConnections > 0 && broker.openConnections >= cfg.maxConnections && !broker.isConnected(auth.mount ?? '', clientId)) {
      return this.refuse(RC.QUOTA_EXCEEDED, `the server accepts at most ${cfg.maxConnections} connections`);
    }

    // A session of this client on another node of a cluster comes here first (or goes, for a clean start).
    // Only in a cluster: a single node binds at once, without another turn of the event loop.
    const claiming = broker.claimSession(auth.mount ?? '', clientId, p.clean);
    if (claiming) {
      try {
        await claiming;
      } catch (err) {
        broker.log.warn(
          { clientId, err: err instanceof Error ? err.message : String(err) },
          'taking the session over from another node failed',
        );
        return this.refuse(RC.SERVER_UNAVAILABLE, 'the session could not be taken over from another node; try again');
      }
    }
    if ((this.state as State) === 'closed') return;

    this.client = {
      clientId,
      mount: auth.mount ?? '',
      username,
      usernameQuery: query,
      principal: auth.principal,
      protocolVersion: p.protocolVersion,
      transport: this.transport.info,
      connectionId: this.id,
      connectedAt: Date.now(),
      cleanStart: p.clean,
      context: auth.context,
    };
    this.will = p.will;

    const sessionPresent = broker.attach(this, p.clean, expiry, p.protocolVersion);
    const ack = this.v5
      ? connackProperties(p, cfg, {
          expiry,
          keepAlive,
          receiveMaximum: this.receiveMaximum,
          assignedClientId: assigned ? clientId : undefined,
        })
      : {};
    this.transport.write(encodeConnack(this.v5, sessionPresent, 0, ack));
    this.state = 'open';
    broker.stats.connectionsAccepted++;
    if (auth.disconnectAfterSeconds && auth.disconnectAfterSeconds > 0) {
      this.lifetimeTimer = setTimeout(
        () => this.terminate('CUSTOMAUTH_TTL_EXPIRATION', RC.MAXIMUM_CONNECT_TIME, 'credentials expired'),
        auth.disconnectAfterSeconds * 1000,
      );
      this.lifetimeTimer.unref();
    }
    broker.emit('client:connected', this.client, sessionPresent);
    this.session?.resume();
    this.releaseHeld();
  }

  /** Processes the packets held back; if processing pauses input again, the rest stay held, in order. */
  private releaseHeld(): void {
    const held = this.hold;
    this.hold = null;
    if (!held) return;
    for (const [p, size] of held) {
      if ((this.state as State) === 'closed') return;
      this.onPacket(p, size);
    }
  }

  /** Refuses a CONNECT with a CONNACK carrying `code` and closes. */
  private refuse(code: number, reason: string, v5 = this.v5): void {
    this.broker.stats.connectionsRefused++;
    this.broker.log.debug({ remote: this.transport.info.remoteAddress, code, reason }, 'connection refused');
    const props: Properties | undefined = v5 && this.problemInformation ? { reasonString: reason } : undefined;
    this.transport.write(encodeConnack(v5, false, v5 ? code : connackCodeV3(code), props));
    this.state = 'closed';
    this.transport.end();
    this.broker.detach(this, 'AUTH_ERROR');
  }

  // ---- PUBLISH from the client ----------------------------------------------------------------

  private onPublish(p: PublishPacket, size: number): void {
    const broker = this.broker;
    const cfg = broker.config;
    const client = this.client!;
    let topic = p.topic;
    const alias = this.v5 ? p.properties.topicAlias : undefined;
    if (alias !== undefined) {
      if (alias > cfg.topicAliasMaximum)
        return this.violation(RC.TOPIC_ALIAS_INVALID, `topic alias ${alias} exceeds ${cfg.topicAliasMaximum}`);
      this.inboundAliases ??= new Map();
      if (topic.length > 0) this.inboundAliases.set(alias, topic);
      else {
        const known = this.inboundAliases.get(alias);
        if (known === undefined) return this.violation(RC.PROTOCOL_ERROR, `topic alias ${alias} was never set`);
        topic = known;
      }
    } else if (topic.length === 0) {
      return this.violation(RC.PROTOCOL_ERROR, 'PUBLISH without a topic name');
    }
    if (p.qos > cfg.maximumQoS) return this.violation(RC.QOS_NOT_SUPPORTED, `QoS ${p.qos} is above the maximum QoS ${cfg.maximumQoS}`);
    if (p.retain && !cfg.retainAvailable) return this.violation(RC.RETAIN_NOT_SUPPORTED, 'retained messages are not available');
    const session = this.session!;
    if (p.qos === 2 && session.inboundQos2.has(p.packetId)) {
      // A retransmission of a message already received: acknowledge again (unless that PUBREC is
      // still waiting its turn), route nothing (§4.3.3).
      if (!this.ackWaiting(p.packetId)) this.transport.write(encodeAck(PacketType.PUBREC, p.packetId, this.v5));
      return;
    }
    if (p.qos > 0 && this.enforceReceiveMaximum && !this.quota.count(p, this.receiveMaximum)) {
      return this.violation(
        RC.RECEIVE_MAXIMUM_EXCEEDED,
        `more than ${this.receiveMaximum} QoS 1 and QoS 2 publishes without their acknowledgement (Receive Maximum)`,
      );
    }
    broker.stats.messagesIn[p.qos]!++;
    broker.stats.bytesIn[p.qos]! += size;

    if (cfg.maxPublishRate > 0 && !this.quota.withinRate(cfg.maxPublishRate)) {
      if (!this.v5) return this.terminate('THROTTLED');
      if (p.qos > 0) this.queueAck(p, RC.QUOTA_EXCEEDED, `more than ${cfg.maxPublishRate} publishes per second`);
      return;
    }

    const refused = publishRefusal(p, topic, client, broker);
    if (refused) {
      const { code: rc, reason: why } = refused;
      broker.log.debug({ clientId: client.clientId, topic, rc }, why);
      if (!this.v5) {
        // MQTT 3.1.1 has no negative PUBACK; like AWS IoT, close (§4.13: "the Server MUST close").
        return this.terminate(rc === RC.NOT_AUTHORIZED ? 'AUTH_ERROR' : 'CLIENT_ERROR');
      }
      if (rc === RC.TOPIC_NAME_INVALID && p.qos === 0) return this.violation(rc, why);
      if (p.qos > 0) this.queueAck(p, rc, why);
      return;
    }

    const msg = new Message(topic, p.payload, p.qos, p.retain, this.v5 ? forwardedProperties(p.properties) : undefined);
    msg.origin = client.clientId;
    const routed = this.routed;
    let mustCommit = broker.route(session.namespace, msg, p.qos > 0 ? routed : undefined, client);
    if (p.qos === 0) return;
    const congested = routed.congested;
    const remote = routed.remote;
    routed.remote = undefined;
    const services = routed.services;
    routed.services = undefined;
    if (routed.refused && this.v5) {
      // Every subscriber's queue was full: nothing took the message, and an MQTT 5 publisher is told so.
      routed.refused = false;
      this.queueAck(p, RC.QUOTA_EXCEEDED, 'no subscriber could take the message: their queues are full', congested.length);
      congested.length = 0;
      return;
    }
    if (p.qos === 2) {
      session.receivedQos2(p.packetId);
      // The id must be durable before PUBREC, or a retransmission after a crash is delivered twice.
      if (session.persistent) mustCommit = true;
    }
    const ack = this.queueAck(p, RC.SUCCESS, undefined, (mustCommit ? 1 : 0) + (remote ? 1 : 0) + (services ? 1 : 0) + congested.length);
    if (mustCommit) broker.store.afterCommit(() => this.ackReady(ack));
    if (services) void services.then(() => this.ackReady(ack));
    if (remote) remote.then((ok) => (ok ? this.ackReady(ack) : this.unconfirmed(ack)));
    for (const s of congested) s.onUncongested(() => this.ackReady(ack));
    congested.length = 0;
    this.flushAcks();
  }

  /**
   * Queues the PUBACK/PUBREC of a publish; it is sent once its `waits` (store commit, congested
   * subscribers) are over and every earlier ack has gone. While too many acks wait, reading from
   * the client stops (receiveMaximumExceeded 'pause', and MQTT 3.1.1): AWS IoT's "no new PUBLISH
   * accepted until PUBACKs", and TCP back-pressure for the publisher, rather than a DISCONNECT that
   * clients such as mqtt.js (which ignore the server's Receive Maximum) would hit in normal
   * operation. With 'disconnect' an MQTT 5 client is trusted to keep within its Receive Maximum,
   * and one that does not gets 0x93 (InboundQuota).
   */
  private queueAck(p: PublishPacket, code: number, reason?: string, waits = 0): PendingAck {
    const ack: PendingAck = { packetId: p.packetId, qos: p.qos as 1 | 2, code, reason, waits };
    this.acks.push(ack);
    if (waits === 0) this.flushAcks();
    else if (this.acks.length - this.ackHead >= this.broker.config.maxInflight && !this.inputPaused && !this.enforceReceiveMaximum) {
      this.inputPaused = true;
      this.hold ??= [];
      this.transport.pause();
    }
    return ack;
  }

  private ackReady(ack: PendingAck): void {
    if (--ack.waits === 0) this.flushAcks();
  }

  /**
   * Another node whose sessions the publish went to did not confirm storing it: acknowledging it
   * could lose it there. An MQTT 5 publisher is told (0x80) and may send it again; an MQTT 3.1.1
   * one has no negative acknowledgement, so its connection closes and it sends what was not
   * acknowledged again when it reconnects.
   */
  private unconfirmed(ack: PendingAck): void {
    if (!this.v5) return this.terminate('CLIENT_ERROR');
    // A PUBREC with an error ends the exchange (no PUBREL follows): the id is free again.
    if (ack.qos === 2) this.session?.releasedQos2(ack.packetId);
    ack.code = RC.UNSPECIFIED_ERROR;
    ack.reason = 'another node of the cluster did not confirm storing the message for its subscribers; publish it again';
    this.ackReady(ack);
  }

  private flushAcks(): void {
    const acks = this.acks;
    while (this.ackHead < acks.length) {
      const a = acks[this.ackHead]!;
      if (a.waits > 0) break;
      acks[this.ackHead++] = undefined;
      if (this.state !== 'open') continue;
      const props = a.code !== 0 && a.reason && this.problemInformation ? { reasonString: a.reason } : undefined;
      this.transport.write(encodeAck(a.qos === 1 ? PacketType.PUBACK : PacketType.PUBREC, a.packetId, this.v5, a.code, props));
      // A PUBACK, or a PUBREC with an error (no PUBREL follows), ends the exchange (§4.9).
      if (this.enforceReceiveMaximum && (a.qos === 1 || a.code >= 0x80)) this.quota.uncount(a.packetId, a.qos);
    }
    if (this.ackHead === acks.length) {
      this.acks = [];
      this.ackHead = 0;
    }
    if (this.inputPaused && this.acks.length - this.ackHead < this.broker.config.maxInflight && this.state === 'open') {
      this.inputPaused = false;
      // Nothing could arrive while reading was paused; keep-alive counts from now.
      this.lastActivity = Date.now();
      this.transport.resume();
      // Not now: this may run inside the router (a delivery drained a queue and released this
      // publisher), and its held publishes must not be routed in the middle of another message's.
      setImmediate(() => {
        if (!this.inputPaused) this.releaseHeld();
      });
    }
  }

  /** Whether the PUBREC for this packet id is still queued. */
  private ackWaiting(packetId: number): boolean {
    for (let i = this.ackHead; i < this.acks.length; i++) if (this.acks[i]!.packetId === packetId) return true;
    return false;
  }

  /** The Receive Maximum announced to MQTT 5 clients. */
  private get receiveMaximum(): number {
    return Math.min(this.broker.config.maxInflight, 65_535);
  }

  private onPubrel(p: AckPacket): void {
    if (this.enforceReceiveMaximum) this.quota.uncount(p.packetId, 2);
    const known = this.session!.releasedQos2(p.packetId);
    const rc = known || !this.v5 ? RC.SUCCESS : RC.PACKET_IDENTIFIER_NOT_FOUND;
    this.transport.write(encodeAck(PacketType.PUBCOMP, p.packetId, this.v5, rc));
  }

  // ---- acknowledgements of deliveries ---------------------------------------------------------

  private onDeliveryAck(p: AckPacket): void {
    this.session!.complete(p.packetId);
  }

  private onPubrec(p: AckPacket): void {
    const session = this.session!;
    if (p.reasonCode >= 0x80) {
      session.complete(p.packetId);
      return;
    }
    const ok = session.released(p.packetId);
    this.transport.write(encodeAck(PacketType.PUBREL, p.packetId, this.v5, ok || !this.v5 ? 0 : RC.PACKET_IDENTIFIER_NOT_FOUND));
  }

  // ---- SUBSCRIBE / UNSUBSCRIBE (subscribe-handler.ts) ------------------------------------------

  private onSubscribe(p: SubscribePacket): void {
    handleSubscribe(this, p);
  }

  private onUnsubscribe(p: UnsubscribePacket): void {
    handleUnsubscribe(this, p);
  }

  // ---- DISCONNECT and closing -----------------------------------------------------------------

  private onDisconnect(p: DisconnectPacket): void {
    const session = this.session!;
    const sei = p.properties.sessionExpiryInterval;
    if (sei !== undefined) {
      if (session.expiryInterval === 0 && sei > 0) {
        return this.violation(RC.PROTOCOL_ERROR, 'the session expiry interval cannot be raised from 0 at DISCONNECT');
      }
      this.broker.setSessionExpiry(session, Math.min(sei, this.broker.config.maxSessionExpiry));
    }
    this.disconnectReceived = true;
    // Only a normal disconnection (0x00) discards the will (§3.1.2.5); 0x04 and error codes publish it.
    if (p.reasonCode === RC.SUCCESS) this.will = undefined;
    this.terminate('CLIENT_INITIATED_DISCONNECT');
  }

  /** A protocol violation found while handling a packet. */
  violation(code: number, message: string): void {
    this.protocolViolation(new MqttProtocolError(code, message));
  }

  /** A reason string for an ack, unless the client asked for none (Request Problem Information 0). */
  reason(text: string): Properties | undefined {
    return this.v5 && this.problemInformation ? { reasonString: text } : undefined;
  }

  /**
   * Closes the connection. `code` is sent in a DISCONNECT to MQTT 5 clients that completed CONNECT.
   */
  terminate(reason: DisconnectReason, code?: number, text?: string): void {
    if (this.state === 'closed') return;
    if (this.state === 'open' && this.v5 && code !== undefined) {
      this.transport.write(encodeDisconnect(code, this.reason(text ?? reason)));
    }
    this.state = 'closed';
    if (this.lifetimeTimer) clearTimeout(this.lifetimeTimer);
    this.transport.end();
    this.broker.detach(this, reason);
  }

  private onTransportClose(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.lifetimeTimer) clearTimeout(this.lifetimeTimer);
    this.broker.detach(this, this.disconnectReceived ? 'CLIENT_INITIATED_DISCONNECT' : 'CONNECTION_LOST');
  }

  // ---- output (SessionLink) -------------------------------------------------------------------

  canSendMore(inflight: number): boolean {
    return (
      this.state === 'open' &&
      inflight < this.clientReceiveMaximum &&
      inflight < this.broker.config.maxInflight &&
      this.transport.bufferedBytes < this.broker.config.slowConsumerBytes
    );
  }

  sendQos0(msg: Message, retain: boolean, subscriptionIds: number[] | undefined): boolean {
    if (this.state !== 'open' || this.transport.bufferedBytes >= this.broker.config.slowConsumerBytes) {
      this.broker.drops.note('slow_consumer', this.session ?? undefined);
      return false;
    }
    return this.write(msg, 0, retain, false, 0, subscriptionIds);
  }

  sendPublish(d: Delivery, dup: boolean): boolean {
    return this.write(d.msg, d.qos, d.retain, dup, d.packetId, d.subscriptionIds);
  }

  sendPubrel(packetId: number): void {
    this.transport.write(encodeAck(PacketType.PUBREL, packetId, this.v5));
  }

  private write(msg: Message, qos: QoS, retain: boolean, dup: boolean, packetId: number, subIds: number[] | undefined): boolean {
    const now = Date.now();
    let perReceiver: { topicAlias?: number; omitTopic?: boolean; subscriptionIdentifiers?: number[] } | undefined;
    let newAlias = 0;
    if (this.v5) {
      if (subIds) perReceiver = { subscriptionIdentifiers: subIds };
      if (this.outboundAliasMax > 0 && !dup) {
        this.outboundAliases ??= new Map();
        const known = this.outboundAliases.get(msg.topic);
        if (known !== undefined) perReceiver = { ...perReceiver, topicAlias: known, omitTopic: true };
        else if (this.outboundAliases.size < this.outboundAliasMax) {
          newAlias = this.outboundAliases.size + 1;
          perReceiver = { ...perReceiver, topicAlias: newAlias };
        }
      }
    }
    const bytes = msg.encode(this.v5, qos, retain, dup, packetId, now, perReceiver);
    if (bytes.length > this.clientMaxPacketSize) {
      // MQTT 5 §3.1.2.11.4: a packet too large for the client is discarded as if delivered.
      this.broker.drops.note('packet_too_large', this.session ?? undefined);
      return false;
    }
    // The alias exists for the client only once a PUBLISH that sets it has been sent.
    if (newAlias) this.outboundAliases!.set(msg.topic, newAlias);
    this.transport.write(bytes);
    const stats = this.broker.stats;
    stats.messagesOut[qos]!++;
    stats.bytesOut[qos]! += bytes.length;
    stats.packetsOut++;
    return true;
  }
}
