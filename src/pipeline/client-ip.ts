/**
 * The client address and the X-Forwarded-For chain. A hop is believed only when the address that
 * reported it is in `trustedProxies`; anything a client wrote further left is dropped, so a client
 * cannot choose the address that IP limits and rules see.
 */
import net from "node:net";

export interface TrustedProxies {
  contains(address: string): boolean;
}

export function trustedProxies(cidrs: readonly string[]): TrustedProxies {
  const list = new net.BlockList();
  for (const cidr of cidrs) {
    const [addr, bits] = cidr.split("/");
    const type = net.isIP(addr!) === 6 ? "ipv6" : "ipv4";
    if (bits === undefined) list.addAddress(addr!, type);
    else list.addSubnet(addr!, Number(bits), type);
  }
  const empty = cidrs.length === 0;
  return {
    contains(address: string): boolean {
      if (empty) return false;
      const plain = unmapIpv4(address);
      return list.check(plain, net.isIP(plain) === 6 ? "ipv6" : "ipv4");
    },
  };
}

/** `::ffff:127.0.0.1` → `127.0.0.1`, so IPv4 rules match dual-stack sockets. */
export function unmapIpv4(address: string): string {
  return address.startsWith("::ffff:") && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
}

export interface ClientAddress {
  clientIp: string;
  forwardedFor: string;
}

export function resolveClientAddress(peer: string | undefined, xff: string | string[] | undefined, trusted: TrustedProxies): ClientAddress {
  const peerIp = unmapIpv4(peer ?? "");
  if (!xff || !trusted.contains(peerIp)) return { clientIp: peerIp, forwardedFor: peerIp };
  const hops = (Array.isArray(xff) ? xff.join(",") : xff)
    .split(",")
    .map((h) => unmapIpv4(h.trim()))
    .filter(Boolean);
  const chain = [...hops, peerIp];
  // Walk right to left while the hop that reported the next one is trusted.
  let i = chain.length - 1;
  while (i > 0 && trusted.contains(chain[i]!) && net.isIP(chain[i - 1]!) !== 0) i--;
  return { clientIp: chain[i]!, forwardedFor: chain.slice(i).join(", ") };
}
