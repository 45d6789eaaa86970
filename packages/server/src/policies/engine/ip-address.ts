/** IPv4/IPv6 addresses and CIDR blocks for the IpAddress / NotIpAddress condition operators. */
import { isIPv4, isIPv6 } from 'node:net';

export interface IpAddress {
  family: 4 | 6;
  value: bigint;
}

export interface CidrBlock {
  family: 4 | 6;
  /** Number of low bits ignored by the comparison (32/128 minus the prefix length). */
  shift: bigint;
  network: bigint;
}

function ipv4ToBigInt(s: string): bigint {
  return s.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
}

function ipv6ToBigInt(s: string): bigint {
  let text = s;
  // A trailing dotted quad (`::ffff:192.0.2.1`) stands for the last two groups.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const v4 = ipv4ToBigInt(dotted[1]!);
    text = `${text.slice(0, dotted.index)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const missing = 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...Array<string>(tail === undefined ? 0 : missing).fill('0'), ...tailGroups];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

const MAPPED_V4_PREFIX = 0xffffn << 32n;

/**
 * Parses an address; IPv4-mapped IPv6 (`::ffff:a.b.c.d`, what a dual-stack Node socket reports for
 * IPv4 peers) becomes the IPv4 address so IPv4 CIDR conditions still apply to it.
 */
export function parseIpAddress(text: string): IpAddress | undefined {
  const s = text.trim().replace(/%.*$/, ''); // drop an IPv6 zone id
  if (isIPv4(s)) return { family: 4, value: ipv4ToBigInt(s) };
  if (!isIPv6(s)) return undefined;
  const value = ipv6ToBigInt(s);
  if (value >> 32n === MAPPED_V4_PREFIX >> 32n) return { family: 4, value: value & 0xffffffffn };
  return { family: 6, value };
}

/** Parses `a.b.c.d/n`, `x::y/n` or a bare address (a /32 or /128 block). */
export function parseCidr(text: string): CidrBlock | undefined {
  const [addr = '', prefix, extra] = text.trim().split('/');
  if (extra !== undefined) return undefined;
  const s = addr.replace(/%.*$/, '');
  const family = isIPv4(s) ? 4 : isIPv6(s) ? 6 : undefined;
  if (family === undefined) return undefined;
  const bits = family === 4 ? 32 : 128;
  let length = bits;
  if (prefix !== undefined) {
    if (!/^\d{1,3}$/.test(prefix)) return undefined;
    length = Number(prefix);
    if (length > bits) return undefined;
  }
  const value = family === 4 ? ipv4ToBigInt(s) : ipv6ToBigInt(s);
  // `::ffff:10.0.0.0/104` is an IPv4 block in disguise; addresses are unmapped too (parseIpAddress).
  if (family === 6 && length >= 96 && value >> 32n === MAPPED_V4_PREFIX >> 32n) {
    const shift = BigInt(128 - length);
    return { family: 4, shift, network: (value & 0xffffffffn) >> shift };
  }
  const shift = BigInt(bits - length);
  return { family, shift, network: value >> shift };
}

export function cidrContains(block: CidrBlock, ip: IpAddress): boolean {
  return block.family === ip.family && ip.value >> block.shift === block.network;
}
