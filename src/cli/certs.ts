/**
 * `portcullis certs init|inspect|trust`: development certificates, a readable view of any certificate
 * file, and adding the CA of a TLS server (an LDAP directory) to the truststore.
 */
import path from "node:path";
import type { Command } from "commander";
import { systemClock } from "../clock.js";
import type { Config } from "../config/schema.js";
import { GatewayError } from "../errors.js";
import { describeChain } from "../ldap/diagnose.js";
import { classifyLdapError } from "../ldap/problems.js";
import { anchorOf, probeTls, type ProbeTarget } from "../ldap/probe.js";
import { ldapTlsOptions } from "../ldap/tls.js";
import { writeDevCertificates } from "../tls/dev-files.js";
import { formatSummary, inspectFile } from "../tls/inspect.js";
import { addToTruststore, readTruststorePem, TruststoreFileError } from "../tls/truststore-file.js";
import { loadConfigOrExit } from "./load-config.js";
import { confirm } from "./prompt.js";

/** Where `certs trust` writes when neither --store nor a PEM security.trustStore says. */
export const DEFAULT_LDAP_TRUSTSTORE = "certs/ldap-truststore.pem";

/**
 * "host:port", "ldaps://host:port" or "ldap://host:port". StartTLS is used for ldap:// URLs, with
 * --starttls, for the configured directory when its settings say so, and on port 389.
 */
export function trustTarget(arg: string, startTlsFlag: boolean, config: Config): ProbeTarget | null {
  const asUrl = /^[a-z]+:\/\//i.test(arg) ? arg : `tls://${arg}`;
  let url: URL;
  try {
    url = new URL(asUrl);
  } catch {
    return null;
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (!host || !["tls:", "ldap:", "ldaps:"].includes(url.protocol)) return null;
  const port = url.port ? Number(url.port) : url.protocol === "ldap:" ? 389 : url.protocol === "ldaps:" ? 636 : NaN;
  if (!Number.isInteger(port)) return null;
  const configured = config.ldap.url;
  const sameAsConfigured = configured !== undefined && configured.hostname.replace(/^\[(.*)\]$/, "$1") === host && Number(configured.port || (configured.protocol === "ldaps:" ? 636 : 389)) === port;
  const startTls = startTlsFlag || url.protocol === "ldap:" || (url.protocol === "tls:" && (sameAsConfigured ? config.ldap.startTls : port === 389));
  return { host, port, startTls, timeoutMs: config.ldap.connectTimeout };
}

export function registerCerts(program: Command): void {
  const certs = program.command("certs").description("development certificates and certificate files");

  certs
    .command("init")
    .description("create a development CA and a server certificate signed by it")
    .option("--dir <dir>", "where to write the files", "certs")
    .option("--hosts <list>", "comma-separated host names and IP addresses", "localhost,127.0.0.1,::1")
    .action((opts: { dir: string; hosts: string }) => {
      const hosts = opts.hosts.split(",").map((h) => h.trim()).filter(Boolean);
      const files = writeDevCertificates(opts.dir, hosts);
      console.log(`Wrote ${files.cert} and ${files.key} for ${hosts.join(", ")}, signed by the CA in ${files.caCert}.`);
      console.log("");
      console.log("To trust the development CA:");
      const first = hosts[0] ?? "localhost";
      console.log(`  curl:     curl --cacert ${files.caCert} https://${first.includes(":") ? `[${first}]` : first}:4064/`);
      console.log(`  Debian:   sudo cp ${files.caCert} /usr/local/share/ca-certificates/portcullis-dev.crt && sudo update-ca-certificates`);
      console.log(`  macOS:    sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ${files.caCert}`);
      console.log(`  Firefox:  Settings → Certificates → View Certificates → Authorities → Import ${path.resolve(files.caCert)}`);
      console.log(`Keep ${files.caKey} private: anyone holding it can make certificates your machine will trust.`);
    });

  certs
    .command("inspect <file>")
    .description("show subject, SANs, issuer, validity and days left of a PEM, PKCS#12 or JKS file")
    .option("--password <password>", "store password (PKCS#12, JKS)")
    .action((file: string, opts: { password?: string }) => {
      try {
        const { summaries, hasKey } = inspectFile(file, opts.password, systemClock);
        console.log(`${file}: ${summaries.length} certificate${summaries.length === 1 ? "" : "s"}${hasKey ? " and a private key" : ""}`);
        summaries.forEach((s, i) => console.log(`\n[${i}]\n${formatSummary(s)}`));
      } catch (err) {
        if (err instanceof GatewayError) {
          console.error(`portcullis: ${err.message.replace(/^FILE: /, "")}`);
          process.exit(2);
        }
        throw err;
      }
    });

  certs
    .command("trust <target>")
    .description("fetch the chain a TLS server presents (HOST:PORT, ldaps:// or ldap:// with StartTLS), show its fingerprints and add its CA to a PEM truststore")
    .option("--store <file>", `PEM truststore to add to (default: security.trustStore, else ${DEFAULT_LDAP_TRUSTSTORE})`)
    .option("--starttls", "upgrade a plain LDAP connection with StartTLS before the handshake")
    .option("--yes", "add without asking")
    .option("-c, --config <file>", "configuration file")
    .action(async (arg: string, opts: { store?: string; starttls?: boolean; yes?: boolean; config?: string }) => {
      const { config } = loadConfigOrExit(opts.config);
      const refuse = (message: string) => {
        console.error(`portcullis: ${message}`);
        process.exitCode = 2;
      };
      const target = trustTarget(arg, opts.starttls === true, config);
      if (!target) return refuse(`"${arg}" is not HOST:PORT, ldaps://HOST:PORT or ldap://HOST:PORT`);
      const store = path.resolve(opts.store ?? config.security.trustStore ?? DEFAULT_LDAP_TRUSTSTORE);
      const where = `${target.host}:${target.port}${target.startTls ? " (StartTLS)" : ""}`;
      let probe;
      try {
        // Judged against the store being added to, so "already trusted" means this file.
        // A store that does not exist yet trusts nothing (not the system's CAs): it is the one to write.
        probe = await probeTls(target, ldapTlsOptions({ ca: readTruststorePem(store) }, target.host));
      } catch (err) {
        if (err instanceof TruststoreFileError) return refuse(err.message);
        const problem = classifyLdapError(err, where);
        const hint = !target.startTls && (problem.kind === "tls-handshake" || problem.kind === "connection-lost") ? "; if this is a plain ldap:// port, add --starttls" : "";
        return refuse(`${problem.message}${hint}`);
      }
      console.log(`${where} presented ${probe.chain.length} certificate${probe.chain.length === 1 ? "" : "s"}:`);
      for (const line of describeChain(probe.chain)) console.log(line);
      if (probe.authorized) {
        console.log(`\nThe chain is already trusted by ${store} and matches the host name; nothing to add.`);
        return;
      }
      const anchor = anchorOf(probe.chain);
      if (!anchor) {
        return refuse(
          `the server sent only its own certificate, signed by "${probe.chain[0]?.issuer.replace(/\n/g, ", ")}", without that CA; ask the directory's admins for the CA certificate and add it to ${store}`,
        );
      }
      console.log(`\nCA to trust: ${anchor.subject.replace(/\n/g, ", ")}\n     sha256: ${anchor.fingerprint256}`);
      console.log("Compare the fingerprint with one obtained from the directory's admins before trusting it.");
      if (!opts.yes && !(await confirm(`Add it to ${store}? [y/N] `))) {
        console.log("Nothing was changed.");
        process.exitCode = 1;
        return;
      }
      try {
        console.log(addToTruststore(store, anchor) ? `Added to ${store}.` : `${store} already holds it.`);
      } catch (err) {
        if (err instanceof TruststoreFileError) return refuse(err.message);
        throw err;
      }
      const after = await probeTls(target, ldapTlsOptions({ ca: readTruststorePem(store) }, target.host)).catch(() => null);
      if (after && !after.authorized) console.log(`Note: the chain still does not verify (${classifyLdapError(Object.assign(new Error(after.verifyError), { code: after.verifyError }), where).message}).`);
      if (!config.security.trustStore || path.resolve(config.security.trustStore) !== store) {
        console.log(`\nPoint the gateway at it:  portcullis config set security.trustStore ${path.relative(process.cwd(), store) || store}`);
      }
    });
}

