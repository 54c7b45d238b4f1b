/**
 * Host firewall rules that open exactly the gateway's listening ports (prefix applied), as in the
 * OMERO security page's pf and iptables examples. The admin port (metrics, readiness) stays closed:
 * it is meant for the local machine or a monitoring network.
 */
export type FirewallFormat = "iptables" | "pf" | "nftables";

export interface FirewallInput {
  insecure: number;
  secure: number;
  /** The bind address; rules are limited to it unless it is a wildcard. */
  host: string;
}

export function firewallRules(format: FirewallFormat, input: FirewallInput): string {
  const ports = [input.insecure, input.secure];
  const specific = input.host !== "0.0.0.0" && input.host !== "::";
  const header = `# portcullis: open the plaintext (${input.insecure}) and TLS (${input.secure}) ports, keep the rest closed`;
  switch (format) {
    case "iptables": {
      const dest = specific ? ` -d ${input.host}` : "";
      return [
        header,
        "iptables -P INPUT DROP",
        "iptables -A INPUT -i lo -j ACCEPT",
        "iptables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
        ...ports.map((p) => `iptables -A INPUT -p tcp${dest} --dport ${p} -j ACCEPT`),
      ].join("\n");
    }
    case "pf": {
      const to = specific ? input.host : "($ext_if)";
      return [
        header,
        'ext_if = "em0"   # your external interface',
        `block in log on $ext_if from any to ${to}`,
        ...ports.map((p) => `pass in on $ext_if proto tcp from any to ${to} port ${p}`),
      ].join("\n");
    }
    case "nftables": {
      const daddr = specific ? ` ip${input.host.includes(":") ? "6" : ""} daddr ${input.host}` : "";
      return [
        header,
        "table inet portcullis {",
        "  chain input {",
        "    type filter hook input priority 0; policy drop;",
        '    iif "lo" accept',
        "    ct state established,related accept",
        `    tcp dport { ${ports.join(", ")} }${daddr} accept`,
        "  }",
        "}",
      ].join("\n");
    }
  }
}
