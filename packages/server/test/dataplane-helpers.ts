/** Helpers for the iot-data message API tests: hand-signed requests with raw paths, and MQTT 5 capture. */
import { request } from 'node:https';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import type { MqttClient } from 'mqtt';
import type { ThicketServer } from '@thicket/server';
import { tlsOptions } from './helpers.js';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body parsed as JSON, or undefined when it is empty or not JSON. */
  json: { __type?: string; message?: string } & Record<string, unknown>;
}

function parse(text: string): RawResponse['json'] {
  try {
    return JSON.parse(text) as RawResponse['json'];
  } catch {
    return {};
  }
}

/**
 * A SigV4-signed (`iotdata`) request over plain HTTP whose path goes out exactly as written, so a
 * test can send what an SDK never would (plain slashes, `%23`, `%00`, ...).
 */
export async function signedRequest(
  server: ThicketServer,
  method: string,
  path: string,
  opts: { query?: Record<string, string>; headers?: Record<string, string>; body?: Buffer | string; region?: string } = {},
): Promise<RawResponse> {
  const host = `127.0.0.1:${server.ports.http}`;
  const body = opts.body === undefined ? undefined : Buffer.from(opts.body);
  const signer = new SignatureV4({ credentials: server.adminKey, region: opts.region ?? 'us-east-1', service: 'iotdata', sha256: Sha256 });
  const signed = await signer.sign({
    method,
    protocol: 'http:',
    hostname: '127.0.0.1',
    port: server.ports.http!,
    path,
    query: opts.query,
    headers: { host, ...(body ? { 'content-type': 'application/octet-stream' } : {}), ...opts.headers },
    body,
  });
  const qs = new URLSearchParams(opts.query ?? {}).toString();
  const res = await fetch(`http://${host}${path}${qs ? `?${qs}` : ''}`, {
    method,
    headers: signed.headers as Record<string, string>,
    body,
  });
  const text = await res.text();
  return { status: res.status, headers: Object.fromEntries(res.headers), text, json: parse(text) };
}

/** An HTTPS request with a device certificate (no signature); the path is sent as written. */
export function deviceRequest(
  server: ThicketServer,
  d: { cert: string; key: string } | undefined,
  method: string,
  path: string,
  body?: Buffer | string,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: server.ports.https!,
        method,
        path,
        headers,
        ...(d ? tlsOptions(server, d) : { ca: server.pki.caCertPem, servername: 'localhost' }),
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text, json: parse(text) }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export interface Received {
  topic: string;
  payload: Buffer;
  qos: number;
  retain: boolean;
  properties: Record<string, unknown>;
}

/** Every message a client receives, in order; `next` waits for the next one, `quiet` asserts none comes. */
export class Capture {
  readonly all: Received[] = [];
  private taken = 0;
  private wake: (() => void) | undefined;

  constructor(client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      this.all.push({
        topic,
        payload,
        qos: packet.qos,
        retain: packet.retain,
        // mqtt.js builds user properties on a null prototype; a plain object compares with deepEqual.
        properties: Object.fromEntries(
          Object.entries(packet.properties ?? {}).map(([k, v]) => [k, k === 'userProperties' ? { ...(v as object) } : v]),
        ),
      });
      this.wake?.();
    });
  }

  async next(timeoutMs = 3000): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    while (this.taken >= this.all.length) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no message within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
    return this.all[this.taken++]!;
  }

  /** Resolves to what arrived (not yet taken) within `ms`. */
  async settle(ms = 200): Promise<Received[]> {
    await new Promise((r) => setTimeout(r, ms));
    const rest = this.all.slice(this.taken);
    this.taken = this.all.length;
    return rest;
  }
}
