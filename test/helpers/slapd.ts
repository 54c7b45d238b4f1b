/**
 * A real OpenLDAP `slapd` for tests: its own config, database and certificates in a temp dir,
 * seeded from LDIF with `slapadd`, listening on free loopback ports for ldap:// (StartTLS) and ldaps://.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import type { TestPki } from "./certs.js";
import { freePorts, killChild } from "./redis.js";

export const BASE = "dc=example,dc=org";
export const PEOPLE = `ou=people,${BASE}`;
export const GROUPS = `ou=groups,${BASE}`;
export const SERVICE_DN = `cn=portcullis,ou=services,${BASE}`;
export const SERVICE_PASSWORD = "service-password-1";

/** People in the seeded directory: uid → password, display name, mail, groups. */
export const PEOPLE_SEED = {
  alice: { password: "alice-password-1", cn: "Alice Liddell", mail: "alice@example.org", groups: ["admins", "scientists"] },
  bob: { password: "bob-password-1", cn: "Bob Marley", mail: "bob@example.org", groups: ["scientists"] },
  carol: { password: "carol-password-1", cn: "Carol (Star) Danvers", mail: "carol@example.org", groups: [] as string[] },
} as const;

export interface TestSlapd {
  dir: string;
  /** ldaps://127.0.0.1:Q */
  ldapsUrl: string;
  /** ldap://127.0.0.1:P, for StartTLS */
  ldapUrl: string;
  ldapPort: number;
  ldapsPort: number;
  /** Settings for portcullis' `ldap` section pointing at this server over ldaps. */
  ldapConfig(extra?: Record<string, unknown>): Record<string, unknown>;
  stop(): Promise<void>;
  /** Starts it again on the same ports, with the same data (after stop). */
  start(): Promise<void>;
  cleanup(): Promise<void>;
}

export interface SlapdOptions {
  pki: TestPki;
  /** Host names in the server certificate (default 127.0.0.1 and localhost); others make a name mismatch. */
  hosts?: string[];
  /** `TLSVerifyClient demand`: only clients presenting a certificate signed by the test CA get in. */
  requireClientCert?: boolean;
  /** More LDIF entries appended to the seed. */
  extraLdif?: string;
}

function seedLdif(extra = ""): string {
  const people = Object.entries(PEOPLE_SEED).map(
    ([uid, p]) => `dn: uid=${uid},${PEOPLE}
objectClass: inetOrgPerson
uid: ${uid}
cn: ${p.cn}
sn: ${p.cn.split(" ").pop()}
mail: ${p.mail}
userPassword: ${p.password}
`,
  );
  const groupNames = [...new Set(Object.values(PEOPLE_SEED).flatMap((p) => p.groups))];
  const groups = groupNames.map((g) => {
    const members = Object.entries(PEOPLE_SEED)
      .filter(([, p]) => (p.groups as readonly string[]).includes(g))
      .map(([uid]) => `member: uid=${uid},${PEOPLE}`);
    return `dn: cn=${g},${GROUPS}
objectClass: groupOfNames
cn: ${g}
${members.join("\n")}
`;
  });
  return [
    `dn: ${BASE}
objectClass: dcObject
objectClass: organization
dc: example
o: Example
`,
    `dn: ${PEOPLE}
objectClass: organizationalUnit
ou: people
`,
    `dn: ${GROUPS}
objectClass: organizationalUnit
ou: groups
`,
    `dn: ou=services,${BASE}
objectClass: organizationalUnit
ou: services
`,
    `dn: ${SERVICE_DN}
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: portcullis
userPassword: ${SERVICE_PASSWORD}
`,
    ...people,
    ...groups,
    extra,
  ].join("\n");
}

function slapdConf(dir: string, cert: { certFile: string; keyFile: string }, caFile: string, requireClientCert: boolean): string {
  return `include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile ${dir}/slapd.pid
argsfile ${dir}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCACertificateFile ${caFile}
TLSCertificateFile ${cert.certFile}
TLSCertificateKeyFile ${cert.keyFile}
TLSVerifyClient ${requireClientCert ? "demand" : "never"}
database mdb
maxsize 67108864
suffix "${BASE}"
rootdn "cn=root,${BASE}"
rootpw root-secret
directory ${dir}/db
access to attrs=userPassword by anonymous auth by self read by * none
access to * by * read
`;
}

function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

export async function startTestSlapd(options: SlapdOptions): Promise<TestSlapd> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "portcullis-slapd-"));
  fs.mkdirSync(path.join(dir, "db"));
  const cert = options.pki.issue(`slapd-${path.basename(dir)}`, options.hosts ? { hosts: options.hosts } : {});
  const conf = path.join(dir, "slapd.conf");
  fs.writeFileSync(conf, slapdConf(dir, cert, options.pki.caFile, options.requireClientCert ?? false));
  const seed = path.join(dir, "seed.ldif");
  fs.writeFileSync(seed, seedLdif(options.extraLdif));
  const added = spawnSync("slapadd", ["-f", conf, "-l", seed], { encoding: "utf8" });
  if (added.status !== 0) throw new Error(`slapadd failed (${added.status}): ${added.stderr}`);

  const [ldapPort, ldapsPort] = await freePorts(2);
  let child: ChildProcess | undefined;
  let output = "";
  const start = async () => {
    output = "";
    // -d 0 keeps slapd in the foreground (so the test owns the process) without debug output.
    child = spawn("slapd", ["-f", conf, "-h", `ldap://127.0.0.1:${ldapPort}/ ldaps://127.0.0.1:${ldapsPort}/`, "-d", "0"], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout!.on("data", (d) => (output += d));
    child.stderr!.on("data", (d) => (output += d));
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`slapd exited with ${child.exitCode}: ${output}`);
      if ((await accepting(ldapPort)) && (await accepting(ldapsPort))) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`slapd did not listen within 10 s: ${output}`);
  };
  const stop = () => killChild(child);
  await start();
  const ldapsUrl = `ldaps://127.0.0.1:${ldapsPort}`;
  return {
    dir,
    ldapsUrl,
    ldapUrl: `ldap://127.0.0.1:${ldapPort}`,
    ldapPort,
    ldapsPort,
    ldapConfig: (extra = {}) => ({
      url: ldapsUrl,
      bindDn: SERVICE_DN,
      bindPassword: SERVICE_PASSWORD,
      userBase: PEOPLE,
      groupBase: GROUPS,
      adminGroups: ["admins"],
      ...extra,
    }),
    start,
    stop,
    async cleanup() {
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
