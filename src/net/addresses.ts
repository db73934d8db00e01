// Address facts the listener needs: canonical form, loopback, and trusted-proxy matching.
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { HostError } from '../errors.js';

/** `::ffff:1.2.3.4` (a v4 peer on a dual-stack socket) becomes `1.2.3.4`, so limits and logs agree. */
export function canonicalAddress(address: string | undefined): string {
  if (address === undefined) return 'unix';
  if (address.startsWith('::ffff:') && isIPv4(address.slice(7))) return address.slice(7);
  return address;
}

/** 127.0.0.0/8 and ::1 (after canonicalAddress). */
export function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address === 'unix';
}

export type AddressMatcher = (address: string) => boolean;

const NONE: AddressMatcher = () => false;

/** Addresses and CIDRs (`10.0.0.0/8`, `fd00::/8`, `127.0.0.1`); throws HostError('LISTEN') on a bad entry. */
export function addressMatcher(entries: readonly string[]): AddressMatcher {
  if (entries.length === 0) return NONE;
  const list = new BlockList();
  for (const raw of entries) {
    const entry = raw.trim();
    const slash = entry.indexOf('/');
    const addr = canonicalAddress(slash < 0 ? entry : entry.slice(0, slash));
    const family = isIPv4(addr) ? 'ipv4' : isIPv6(addr) ? 'ipv6' : null;
    const prefix = slash < 0 ? -1 : Number(entry.slice(slash + 1));
    const maxPrefix = family === 'ipv4' ? 32 : 128;
    if (
      family === null ||
      (slash >= 0 && !(Number.isInteger(prefix) && prefix >= 0 && prefix <= maxPrefix))
    ) {
      throw new HostError('LISTEN', `trusted proxy "${raw}" is not an address or CIDR`);
    }
    if (prefix < 0) list.addAddress(addr, family);
    else list.addSubnet(addr, prefix, family);
  }
  return (address) => {
    if (isIPv4(address)) return list.check(address, 'ipv4');
    if (isIPv6(address)) return list.check(address, 'ipv6');
    return false;
  };
}
