/** A message as the broker routes it, and as its store keeps it. */
import { Message } from '../message.js';
import type { StoredMessage } from './types.js';

export function toStored(msg: Message, id: number): StoredMessage {
  return {
    id,
    topic: msg.topic,
    payload: msg.payload,
    qos: msg.qos,
    retain: msg.retain,
    properties: msg.properties,
    createdAt: msg.createdAt,
    expiresAt: msg.expiresAt,
  };
}

export function fromStored(m: StoredMessage): Message {
  return new Message(m.topic, m.payload, m.qos, m.retain, m.properties, m.createdAt, m.expiresAt);
}
