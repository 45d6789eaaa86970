/**
 * AWS IoT's predefined TLS security policies for domain configurations (developer guide,
 * "Transport security in AWS IoT Core" → "Security policies", and "Configuring TLS settings in
 * domain configurations"), with the part of each that Thicket enforces: the oldest protocol version.
 *
 * What is not enforced, and why (README, Domain configurations):
 * - The upper version. The TLS12_* policies offer no TLS 1.3 on AWS, but OpenSSL settles the version
 *   before the SNI callback runs, so a listener cannot offer 1.3 to one host name and not another.
 *   Refusing a client that negotiated 1.3 would refuse clients that AWS serves over 1.2; Thicket
 *   serves them over 1.3 instead.
 * - The cipher lists. Node takes only the certificate, key and chain from an SNI context; the cipher
 *   list is the listener's (Node's default: AWS's three TLS 1.3 suites, and for TLS 1.2 AWS's ECDHE
 *   and RSA suites plus other AEAD ones such as ChaCha20-Poly1305). A check after the handshake
 *   would refuse clients whose first choice AWS lacks but that AWS serves with their next one.
 * - Regions. AWS offers the two TLS12_1_0_* policies in some regions only; Thicket everywhere.
 *
 * Despite their names, AWS's current table lists TLS 1.2 as the oldest version of the TLS12_1_0_*
 * policies too (AWS IoT Core now supports only TLS 1.2 and 1.3), so no policy takes a listener
 * below its TLS 1.2 floor.
 */

export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

export interface SecurityPolicy {
  name: string;
  /** The oldest TLS version a client may connect with through the domain. */
  minVersion: TlsVersion;
}

/** AWS's default for a new configuration. */
export const DEFAULT_SECURITY_POLICY = 'IoTSecurityPolicy_TLS13_1_2_2022_10';

const MIN_VERSIONS: Record<string, TlsVersion> = {
  IoTSecurityPolicy_TLS13_1_3_2022_10: 'TLSv1.3',
  IoTSecurityPolicy_TLS13_1_2_2022_10: 'TLSv1.2',
  IoTSecurityPolicy_TLS12_1_2_2022_10: 'TLSv1.2',
  IoTSecurityPolicy_TLS12_1_0_2016_01: 'TLSv1.2',
  IoTSecurityPolicy_TLS12_1_0_2015_01: 'TLSv1.2',
};

export const SECURITY_POLICY_NAMES: readonly string[] = Object.keys(MIN_VERSIONS);

export const isSecurityPolicyName = (name: string): boolean => Object.hasOwn(MIN_VERSIONS, name);

/**
 * The policy a stored configuration is held to. Configurations stored before names were checked
 * may carry any string; they keep what they had then: the default policy's TLS 1.2 floor.
 */
export function securityPolicyOf(name: string): SecurityPolicy {
  return isSecurityPolicyName(name)
    ? { name, minVersion: MIN_VERSIONS[name]! }
    : { name: DEFAULT_SECURITY_POLICY, minVersion: MIN_VERSIONS[DEFAULT_SECURITY_POLICY]! };
}

/** Whether a negotiated protocol (as TLSSocket.getProtocol() names it) is at least `min`. */
export function meetsMinimum(negotiated: string, min: TlsVersion): boolean {
  const order = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];
  const rank = order.indexOf(negotiated);
  return rank !== -1 && rank >= order.indexOf(min);
}
