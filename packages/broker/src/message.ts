/** A routed application message and the cache of its encodings. */
import { encodeProperties, encodePublish, publishPacketIdOffset } from './codec/encoder.js';
import type { Properties, QoS, UserProperties } from './codec/packets.js';

/** The MQTT 5 properties that travel with a message from publisher to subscribers (§3.3.2.3). */
export interface MessageProperties {
  payloadFormatIndicator?: number;
  messageExpiryInterval?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  userProperties?: UserProperties;
}

export function forwardedProperties(p: Properties): MessageProperties {
  const out: MessageProperties = {};
  if (p.payloadFormatIndicator !== undefined) out.payloadFormatIndicator = p.payloadFormatIndicator;
  if (p.messageExpiryInterval !== undefined) out.messageExpiryInterval = p.messageExpiryInterval;
  if (p.contentType !== undefined) out.contentType = p.contentType;
  if (p.responseTopic !== undefined) out.responseTopic = p.responseTopic;
  if (p.correlationData !== undefined) out.correlationData = p.correlationData;
  if (p.userProperties !== undefined) out.userProperties = p.userProperties;
  return out;
}

let emptyProps: Buffer | undefined;

export class Message {
  /** Row id in the store when the message is persisted for a session or as retained; 0 otherwise. */
  id = 0;
  /** Epoch ms after which the message is not delivered; 0 = never. */
  readonly expiresAt: number;
  /** Client id of the publisher inside its namespace, for the No Local option; undefined for in-process publishers. */
  origin: string | undefined;
  /** In a cluster, the node (boot) that numbered the message when it forwarded it, and that number (SessionCapture). */
  clusterOrigin: string | undefined = undefined;
  clusterSeq = 0;

  private topicBytes: Buffer | undefined;
  private propBytes: Buffer | undefined;
  /** Encodings without per-receiver fields, by variant (see variant()). */
  private readonly cache: Array<Buffer | undefined> = [];
  private cacheSecond = -1;

  constructor(
    readonly topic: string,
    readonly payload: Buffer,
    readonly qos: QoS,
    readonly retain: boolean,
    readonly properties: MessageProperties = {},
    readonly createdAt = Date.now(),
    expiresAt?: number,
  ) {
    const mei = properties.messageExpiryInterval;
    this.expiresAt = expiresAt ?? (mei !== undefined ? createdAt + mei * 1000 : 0);
  }

  expired(now: number): boolean {
    return this.expiresAt !== 0 && now >= this.expiresAt;
  }

  get topicBuffer(): Buffer {
    return (this.topicBytes ??= Buffer.from(this.topic, 'utf8'));
  }

  /** MQTT 5 properties for delivery, with the expiry interval reduced by the time already waited. */
  private v5Properties(now: number, extra?: Properties): Buffer {
    const p = this.properties;
    if (!extra && this.expiresAt === 0) {
      if (this.propBytes) return this.propBytes;
      const keys = Object.keys(p);
      if (keys.length === 0) return (emptyProps ??= Buffer.alloc(0));
      return (this.propBytes = encodeProperties(p));
    }
    const all: Properties = { ...p, ...extra };
    if (this.expiresAt !== 0) all.messageExpiryInterval = Math.max(1, Math.ceil((this.expiresAt - now) / 1000));
    return encodeProperties(all);
  }

  /**
   * The PUBLISH packet for one receiver. Encodings that differ only in packet id are made once and
   * copied with the id patched in, so fan-out to many subscribers encodes each variant once.
   */
  encode(
    v5: boolean,
    qos: QoS,
    retain: boolean,
    dup: boolean,
    packetId: number,
    now: number,
    perReceiver?: { topicAlias?: number; omitTopic?: boolean; subscriptionIdentifiers?: number[] },
  ): Buffer {
    if (perReceiver || dup) {
      const extra: Properties | undefined = perReceiver
        ? { topicAlias: perReceiver.topicAlias, subscriptionIdentifiers: perReceiver.subscriptionIdentifiers }
        : undefined;
      return encodePublish(
        {
          topic: perReceiver?.omitTopic ? EMPTY : this.topicBuffer,
          qos,
          dup,
          retain,
          payload: this.payload,
          properties: v5 ? this.v5Properties(now, extra) : null,
        },
        packetId,
      );
    }
    const variant = (v5 ? 6 : 0) + qos * 2 + (retain ? 1 : 0);
    if (this.expiresAt !== 0) {
      const second = Math.floor(now / 1000);
      if (second !== this.cacheSecond) {
        this.cache.length = 0;
        this.cacheSecond = second;
      }
    }
    let template = this.cache[variant];
    if (!template) {
      template = encodePublish({
        topic: this.topicBuffer,
        qos,
        dup: false,
        retain,
        payload: this.payload,
        properties: v5 ? this.v5Properties(now) : null,
      });
      this.cache[variant] = template;
    }
    if (qos === 0) return template;
    const copy = Buffer.allocUnsafe(template.length);
    template.copy(copy);
    const at = publishPacketIdOffset(template);
    copy[at] = packetId >> 8;
    copy[at + 1] = packetId & 0xff;
    return copy;
  }
}

const EMPTY = Buffer.alloc(0);
