/**
 * Host firewall rules that open exactly the gateway's listening ports (prefix applied), as in the
 * OMERO security page's pf and iptables examples, and close every other incoming port. The admin port
 * (metrics, readiness) stays closed: it is meant for the local machine or a monitoring network.
 *
 * Beyond the seed's examples, so that applying them does not break the machine: loopback and
 * replies to the host's own connections (upstream, Redis, LDAP) stay allowed, ICMPv6 too (IPv6 needs
 * it to find neighbours) and DHCPv6 answers to link-local addresses, the drop policy is set after the
 * accept rules (a session applying them line by line is not cut off halfway), and SSH is named,
 * commented out, for the admin to decide.
 */
import net from "node:net";

export type FirewallFormat = "iptables" | "pf" | "nftables";

export interface FirewallInput {
  insecure: number;
  secure: number;
  /** The bind address; rules are limited to it unless it is a wildcard. */
  host: string;
}

type Family = "ipv4" | "ipv6";

/**
 * The address families the gateway listens on: "0.0.0.0" is IPv4 only, "::" both (dual stack), an
 * address its own family. A host name may resolve to either, so both are opened for it.
 */
function listeningFamilies(host: string): Family[] {
  const version = net.isIP(host);
  if (host === "::" || version === 0) return ["ipv4", "ipv6"];
  return version === 6 ? ["ipv6"] : ["ipv4"];
}

export function firewallRules(format: FirewallFormat, input: FirewallInput): string {
  const ports = [input.insecure, input.secure];
  // Rules name the bind address only when it is one address (a name could stand for several).
  const specific = net.isIP(input.host) !== 0 && input.host !== "0.0.0.0" && input.host !== "::";
  const families = listeningFamilies(input.host);
  const header = [
    `# portcullis: open the plaintext (${input.insecure}) and TLS (${input.secure}) ports, keep the rest closed`,
    "# Every other incoming port closes, SSH included: to keep remote access, uncomment the SSH line(s) first.",
    ...(net.isIP(input.host) === 0 ? [`# ports.host is the name ${input.host}: the rules are not limited to its addresses.`] : []),
  ];
  switch (format) {
    case "iptables": {
      const dest = specific ? ` -d ${input.host}` : "";
      const table = (cmd: string, family: Family) => [
        `# ${cmd} -A INPUT -p tcp --dport 22 -j ACCEPT`,
        `${cmd} -A INPUT -i lo -j ACCEPT`,
        `${cmd} -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`,
        ...(family === "ipv6" ? [`${cmd} -A INPUT -p ipv6-icmp -j ACCEPT`, `${cmd} -A INPUT -p udp -d fe80::/64 --dport 546 -j ACCEPT`] : []),
        ...(families.includes(family) ? ports.map((p) => `${cmd} -A INPUT -p tcp${dest} --dport ${p} -j ACCEPT`) : []),
        `${cmd} -P INPUT DROP`,
      ];
      return [...header, ...table("iptables", "ipv4"), ...table("ip6tables", "ipv6")].join("\n");
    }
    case "pf": {
      const to = specific ? input.host : "($ext_if)";
      const af = families.length === 1 ? ` ${families[0] === "ipv4" ? "inet" : "inet6"}` : "";
      return [
        ...header,
        'ext_if = "em0"   # your external interface',
        `block in log on $ext_if from any to ${to}`,
        // A packet no rule matches passes without state: the host's own connections need this rule
        // for their replies to come back in past the block.
        "pass out on $ext_if all keep state",
        "# pass in on $ext_if proto tcp from any to ($ext_if) port 22",
        "pass in on $ext_if inet6 proto icmp6 from any to any",
        "pass in on $ext_if inet6 proto udp from fe80::/10 to fe80::/10 port 546",
        ...ports.map((p) => `pass in on $ext_if${af} proto tcp from any to ${to} port ${p}`),
      ].join("\n");
    }
    case "nftables": {
      const daddr = specific ? ` ip${input.host.includes(":") ? "6" : ""} daddr ${input.host}` : "";
      const only = !specific && families.length === 1 ? "meta nfproto ipv4 " : "";
      return [
        ...header,
        "table inet portcullis {",
        "  chain input {",
        "    type filter hook input priority 0; policy drop;",
        '    iif "lo" accept',
        "    ct state established,related accept",
        "    meta l4proto ipv6-icmp accept",
        "    ip6 daddr fe80::/64 udp dport 546 accept",
        "    # tcp dport 22 accept",
        `    ${only}tcp dport { ${ports.join(", ")} }${daddr} accept`,
        "  }",
        "}",
      ].join("\n");
    }
  }
}
