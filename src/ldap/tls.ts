/**
 * The TLS side of LDAP connections, set the way OMERO admins set it: `security.trustStore` holds the
 * CAs that may sign the directory's certificate (instead of the system's, as a Java truststore
 * would), `security.keyStore` the client certificate presented to a directory that asks for one.
 * Verification is never turned off: the chain must lead to a trusted CA and the name must match.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import net from "node:net";
import path from "node:path";
import type tls from "node:tls";
import type { Config } from "../config/schema.js";
import { TlsMaterialError } from "../errors.js";
import { readStore } from "../tls/keystore.js";

export interface LdapTlsMaterial {
  /** Trusted CAs (PEM); absent means Node's bundled public CAs. */
  ca?: string[];
  /** Client certificate chain and key (PEM), when a keystore is configured. */
  cert?: string[];
  key?: string;
}

/** Reads the stores named by `security.*`; every problem is a startup error naming its key. */
export function loadLdapTls(security: Config["security"], cwd = process.cwd()): LdapTlsMaterial {
  const material: LdapTlsMaterial = {};
  if (security.trustStore) {
    const file = path.resolve(cwd, security.trustStore);
    const trust = readStore(file, security.trustStorePassword, "security.trustStore");
    if (trust.certs.length === 0) throw new TlsMaterialError("security.trustStore", `${file} holds no certificate to trust`);
    material.ca = trust.certs;
  }
  if (security.keyStore) {
    const file = path.resolve(cwd, security.keyStore);
    const own = readStore(file, security.keyStorePassword, "security.keyStore");
    if (!own.key) throw new TlsMaterialError("security.keyStore", `${file} holds no private key; a client keystore needs the key and its certificate`);
    if (own.certs.length === 0) throw new TlsMaterialError("security.keyStore", `${file} holds a key but no certificate`);
    let matches: boolean;
    try {
      matches = new X509Certificate(own.certs[0]!).checkPrivateKey(createPrivateKey(own.key));
    } catch (err) {
      throw new TlsMaterialError("security.keyStore", `${file} holds a private key that cannot be read (an encrypted PEM key? use PKCS#12 with security.keyStorePassword)`, err);
    }
    if (!matches) {
      throw new TlsMaterialError("security.keyStore", `${file} holds a private key that belongs to none of its certificates`);
    }
    material.key = own.key;
    material.cert = own.certs;
  }
  return material;
}

/** Options for `tls.connect` to `host`: verified chain, verified name, TLS 1.2 or newer. */
export function ldapTlsOptions(material: LdapTlsMaterial, host: string): tls.ConnectionOptions {
  const options: tls.ConnectionOptions = { rejectUnauthorized: true, minVersion: "TLSv1.2", host };
  // SNI carries names only; for an address the certificate's IP SANs are checked all the same.
  if (!net.isIP(host)) options.servername = host;
  if (material.ca) options.ca = material.ca;
  if (material.key && material.cert) {
    options.key = material.key;
    options.cert = material.cert.join("");
  }
  return options;
}
