// Hash and encoding functions. MD2 is gone from OpenSSL 3, so it is implemented here (RFC 1319).
import { createHash } from 'node:crypto';
import { fail } from '../context.js';
import { toStringValue } from '../values.js';
import { V15, V16, type FunctionTable, type FunctionSpec } from './spec.js';

const MD2_S = [
  41, 46, 67, 201, 162, 216, 124, 1, 61, 54, 84, 161, 236, 240, 6, 19, 98, 167, 5, 243, 192, 199, 115, 140, 152, 147, 43, 217, 188, 76, 130,
  202, 30, 155, 87, 60, 253, 212, 224, 22, 103, 66, 111, 24, 138, 23, 229, 18, 190, 78, 196, 214, 218, 158, 222, 73, 160, 251, 245, 142,
  187, 47, 238, 122, 169, 104, 121, 145, 21, 178, 7, 63, 148, 194, 16, 137, 11, 34, 95, 33, 128, 127, 93, 154, 90, 144, 50, 39, 53, 62, 204,
  231, 191, 247, 151, 3, 255, 25, 48, 179, 72, 165, 181, 209, 215, 94, 146, 42, 172, 86, 170, 198, 79, 184, 56, 210, 150, 164, 125, 182,
  118, 252, 107, 226, 156, 116, 4, 241, 69, 157, 112, 89, 100, 113, 135, 32, 134, 91, 207, 101, 230, 45, 168, 2, 27, 96, 37, 173, 174, 176,
  185, 246, 28, 70, 97, 105, 52, 64, 126, 15, 85, 71, 163, 35, 221, 81, 175, 58, 195, 92, 249, 206, 186, 197, 234, 38, 44, 83, 13, 110, 133,
  40, 132, 9, 211, 223, 205, 244, 65, 129, 77, 82, 106, 220, 55, 200, 108, 193, 171, 250, 36, 225, 123, 8, 12, 189, 177, 74, 120, 136, 149,
  139, 227, 99, 232, 109, 233, 203, 213, 254, 59, 0, 29, 57, 242, 239, 183, 14, 102, 88, 208, 228, 166, 119, 114, 248, 235, 117, 75, 10, 49,
  68, 80, 180, 143, 237, 31, 26, 219, 153, 141, 51, 159, 17, 131, 20,
];

export function md2(input: Uint8Array): string {
  const padLen = 16 - (input.length % 16);
  const msg = new Uint8Array(input.length + padLen + 16);
  msg.set(input);
  msg.fill(padLen, input.length, input.length + padLen);
  const n = input.length + padLen;
  const checksum = new Uint8Array(16);
  let l = 0;
  for (let i = 0; i < n / 16; i++) {
    for (let j = 0; j < 16; j++) {
      checksum[j] = checksum[j]! ^ MD2_S[msg[i * 16 + j]! ^ l]!;
      l = checksum[j]!;
    }
  }
  msg.set(checksum, n);
  const x = new Uint8Array(48);
  for (let i = 0; i < msg.length / 16; i++) {
    for (let j = 0; j < 16; j++) {
      x[16 + j] = msg[i * 16 + j]!;
      x[32 + j] = x[16 + j]! ^ x[j]!;
    }
    let t = 0;
    for (let j = 0; j < 18; j++) {
      for (let k = 0; k < 48; k++) {
        x[k] = x[k]! ^ MD2_S[t]!;
        t = x[k]!;
      }
      t = (t + j) % 256;
    }
  }
  return Buffer.from(x.subarray(0, 16)).toString('hex');
}

function digest(algorithm: string): FunctionSpec {
  return {
    min: 1,
    max: 1,
    since: V15,
    fn: (args) => {
      const s = toStringValue(args[0]);
      if (s === undefined) return undefined;
      const bytes = Buffer.from(s, 'utf8');
      return algorithm === 'md2' ? md2(bytes) : createHash(algorithm).update(bytes).digest('hex');
    },
  };
}

function utf8(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export const hashFunctions: FunctionTable = {
  md2: digest('md2'),
  md5: digest('md5'),
  sha1: digest('sha1'),
  sha224: digest('sha224'),
  sha256: digest('sha256'),
  sha384: digest('sha384'),
  sha512: digest('sha512'),
  encode: {
    min: 2,
    max: 2,
    since: V16,
    fn: (args, ctx) => {
      const scheme = toStringValue(args[1]);
      if (scheme?.toLowerCase() !== 'base64')
        return fail(ctx, 'encode', `Unsupported encoding scheme ${JSON.stringify(scheme ?? null)}; only 'base64' is supported`);
      const v = args[0];
      if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
      const s = toStringValue(v);
      return s === undefined ? undefined : Buffer.from(s, 'utf8').toString('base64');
    },
  },
  decode: {
    min: 2,
    max: 6,
    since: V16,
    fn: (args, ctx) => {
      const scheme = toStringValue(args[1])?.toLowerCase();
      if (scheme === 'proto')
        return fail(ctx, 'decode', 'Protobuf decoding needs a descriptor file from S3, which this engine does not support');
      if (scheme !== 'base64' || args.length !== 2)
        return fail(ctx, 'decode', `Unsupported decoding scheme ${JSON.stringify(scheme ?? null)}; only 'base64' is supported`);
      const v = args[0];
      const text = v instanceof Uint8Array ? utf8(v) : toStringValue(v);
      if (text === undefined) return undefined;
      const compact = text.replace(/\s+/g, '');
      if (compact.length % 4 === 1 || !BASE64.test(compact)) return null;
      const decoded = Buffer.from(compact, 'base64').toString('utf8');
      try {
        return JSON.parse(decoded) as unknown;
      } catch {
        return decoded;
      }
    },
  },
};
