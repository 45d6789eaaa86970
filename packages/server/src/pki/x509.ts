/**
 * The one place that loads `@peculiar/x509`: it needs a Reflect polyfill before it is evaluated
 * (tsyringe checks for it at load time) and a WebCrypto implementation to sign and verify with.
 * Every other module of this folder imports the library from here so that both are always in place.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto);

export { x509 };
export const subtle = webcrypto.subtle;
