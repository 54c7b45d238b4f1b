/**
 * `portcullis ldap test`: each step of a login checked in order, each failure explained in words an
 * admin can act on (SPEC §9). Returns the steps; the command prints them.
 */
import type { X509Certificate } from "node:crypto";
import type { Config } from "../config/schema.js";
import type { Logger } from "../log/logger.js";
import { directoryRoles } from "../auth/login.js";
import { endpointHostPort } from "./connection.js";
import { Directory, directorySettings, inAdminGroup, isPlainGroupName, problemOf } from "./directory.js";
import { classifyLdapError } from "./problems.js";
import { probeTls } from "./probe.js";
import { ldapTlsOptions, loadLdapTls, type LdapTlsMaterial } from "./tls.js";

export interface Step {
  ok: boolean;
  step: string;
  detail: string;
}

export function describeChain(chain: readonly X509Certificate[]): string[] {
  return chain.map((c, i) => `  [${i}] subject: ${c.subject.replace(/\n/g, ", ")}\n      issuer:  ${c.issuer.replace(/\n/g, ", ")}\n      sha256:  ${c.fingerprint256}`);
}

export async function diagnoseLdap(config: Config, options: { user?: string; cwd: string; log: Logger }): Promise<Step[]> {
  const steps: Step[] = [];
  const add = (ok: boolean, step: string, detail: string) => steps.push({ ok, step, detail });
  if (!config.ldap.url) {
    add(false, "configuration", "LDAP is off: set ldap.url (ldaps://host:636, or ldap://host:389 with ldap.startTls: true) and ldap.userBase");
    return steps;
  }
  let material: LdapTlsMaterial;
  try {
    material = loadLdapTls(config.security, options.cwd);
    const trust = material.ca ? `${material.ca.length} CA certificate(s) from security.trustStore` : "the system's public CAs (security.trustStore is not set)";
    add(true, "trust and key stores", `trusting ${trust}${material.key ? "; presenting the client certificate from security.keyStore" : ""}`);
  } catch (err) {
    add(false, "trust and key stores", (err as Error).message);
    return steps;
  }
  const settings = directorySettings(config, material)!;
  const { host, port } = endpointHostPort(settings.endpoint);
  const where = `${config.ldap.url.protocol}//${host}:${port}${config.ldap.startTls ? " (StartTLS)" : ""}`;

  // Connection and certificate, looked at without trusting, so a refusal can be explained.
  try {
    const probe = await probeTls({ host, port, startTls: config.ldap.startTls, timeoutMs: config.ldap.connectTimeout }, ldapTlsOptions(material, host));
    const leaf = probe.chain[0];
    if (probe.authorized) {
      add(true, "TLS", `${where}: ${probe.protocol}, certificate for ${leaf?.subject.replace(/\n/g, ", ")} verified against the truststore and the host name`);
    } else {
      const problem = classifyLdapError(Object.assign(new Error(probe.verifyError ?? "unverified"), { code: probe.verifyError }), where);
      const lines = [problem.message, "The server presented:", ...describeChain(probe.chain)];
      if (problem.kind === "name-mismatch") lines.push(`  names in the certificate: ${leaf?.subjectAltName ?? "(no subjectAltName)"}; ldap.url uses ${host}`);
      if (problem.kind === "untrusted") lines.push(`To trust its CA: portcullis certs trust ${host}:${port}${config.ldap.startTls ? " --starttls" : ""}${config.security.trustStore ? ` --store ${config.security.trustStore}` : ""}`);
      add(false, "TLS", lines.join("\n"));
      return steps;
    }
  } catch (err) {
    const problem = classifyLdapError(err, where);
    const hint = !config.ldap.startTls && (problem.kind === "tls-handshake" || problem.kind === "connection-lost") ? "\nIf ldap.url points at a plain LDAP port (389), use ldap://HOST:389 with ldap.startTls: true, or the ldaps port (636)." : "";
    add(false, "connection", `${problem.message}${hint}`);
    return steps;
  }

  const directory = new Directory(settings, options.log);
  try {
    const check = await directory.check();
    const who = config.ldap.bindDn ? `service account ${config.ldap.bindDn}` : "anonymous";
    if (!check.ok) {
      add(false, "service bind", `${who}: ${check.problem.message}`);
      return steps;
    }
    add(true, "service bind", `${who} bound`);
    if (options.user === undefined) return steps;
    const user = options.user;
    let people;
    try {
      people = await directory.findPeople(user);
    } catch (err) {
      add(false, "user search", problemOf(err, "user search").message);
      return steps;
    }
    const search = `${settings.userFilter.replace("{username}", user)} under ${settings.userBase}`;
    if (people.length === 0) {
      add(false, "user search", `nothing found for ${search}; check ldap.userBase and ldap.userFilter (and that the service account may read there)`);
      return steps;
    }
    if (people.length > 1) {
      add(false, "user search", `more than one entry matches ${search}; logins are refused until ldap.userFilter matches exactly one`);
      return steps;
    }
    const person = people[0]!;
    add(true, "user search", `${person.dn}${person.displayName ? `, name "${person.displayName}"` : ""}${person.email ? `, email ${person.email}` : ", no email"}`);
    if (!settings.groupBase) {
      add(true, "groups", "ldap.groupBase is not set: no groups are looked up");
      return steps;
    }
    try {
      const groups = await directory.groupsOf(person.dn, user.toLowerCase());
      const usable = groups.filter((g) => isPlainGroupName(g.name)).map((g) => g.name);
      const ignored = groups.filter((g) => !isPlainGroupName(g.name)).map((g) => `"${g.name}"`);
      const roles = directoryRoles({ ...person, groups: usable, admin: inAdminGroup(groups, settings.adminGroups) });
      add(
        true,
        "groups",
        `${groups.length ? groups.map((g) => g.name).join(", ") : "none found"} (${settings.groupFilter} under ${settings.groupBase}); roles at login: ${roles.length ? roles.join(", ") : "none"}${ignored.length ? `; ignored (not usable as role names): ${ignored.join(", ")}` : ""}`,
      );
    } catch (err) {
      add(false, "groups", problemOf(err, "group search").message);
    }
    return steps;
  } finally {
    await directory.close();
  }
}
