/**
 * The secure listener's certificate: read from PEM files or a keystore, turned into `tls` options,
 * and re-read when the files change so that new connections get the new certificate while open ones
 * keep theirs (Node's `setSecureContext`).
 */
import fs from "node:fs";
import path from "node:path";
import { createPrivateKey, X509Certificate } from "node:crypto";
import type tls from "node:tls";
import { TlsMaterialError } from "../errors.js";
import type { Config } from "../config/schema.js";
import { pemBlocks, readStore } from "./keystore.js";

export interface ServerTlsMaterial {
  key: string;
  cert: string;
  /** The leaf certificate, for logs and `doctor`. */
  leaf: X509Certificate;
  /** Files whose change triggers a reload. */
  files: string[];
}

/** Reads the certificate and key named by `tls.*`, checking that they belong together. */
export function loadServerTls(tlsConfig: Config["tls"], cwd = process.cwd()): ServerTlsMaterial {
  let key: string | undefined;
  let certs: string[];
  let files: string[];
  let keyKey: string;
  if (tlsConfig.keyStore) {
    const file = path.resolve(cwd, tlsConfig.keyStore);
    const material = readStore(file, tlsConfig.keyStorePassword, "tls.keyStore", "tls.keyStorePassword");
    key = material.key;
    certs = material.certs;
    files = [file];
    keyKey = "tls.keyStore";
    if (!key) throw new TlsMaterialError("tls.keyStore", `${file} holds no private key; a server keystore needs the key and its certificate`);
  } else {
    const certFile = path.resolve(cwd, tlsConfig.cert);
    const keyFile = path.resolve(cwd, tlsConfig.key);
    certs = pemBlocks(readText(certFile, "tls.cert"), /CERTIFICATE$/);
    key = pemBlocks(readText(keyFile, "tls.key"), /PRIVATE KEY$/)[0];
    files = [certFile, keyFile];
    keyKey = "tls.key";
    if (certs.length === 0) throw new TlsMaterialError("tls.cert", `${certFile} holds no PEM certificate`);
    if (!key) throw new TlsMaterialError("tls.key", `${keyFile} holds no PEM private key`);
  }
  if (certs.length === 0) throw new TlsMaterialError("tls.keyStore", "the keystore holds no certificate");
  const leaf = new X509Certificate(certs[0]!);
  let matches = false;
  try {
    matches = leaf.checkPrivateKey(createPrivateKey(key));
  } catch (err) {
    throw new TlsMaterialError(keyKey, `the private key cannot be read (${(err as Error).message}); an encrypted PEM key is not supported, decrypt it or use a keystore`, err);
  }
  if (!matches) throw new TlsMaterialError(keyKey, `the private key does not belong to the certificate ${leaf.subject.replace(/\n/g, ", ")}`);
  return { key, cert: certs.join(""), leaf, files };
}

function readText(file: string, key: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const hint = code === "ENOENT" ? " does not exist; run `portcullis certs init` or point the key at your certificate" : ` cannot be read (${code})`;
    throw new TlsMaterialError(key, `${file}${hint}`, err);
  }
}

/**
 * TLS 1.2 suites of Mozilla's "intermediate" profile (SPEC §5): ECDHE key exchange only (forward
 * secrecy; static RSA is gone) and AEAD ciphers only (CBC suites are open to padding-oracle attacks
 * such as Lucky13), in the server's order of preference. ECDSA and RSA variants are both listed so
 * that either kind of certificate works.
 */
export const TLS12_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
] as const;

/**
 * TLS 1.3 suites, OpenSSL's defaults in OpenSSL's order (all are AEAD with ephemeral keys). They must
 * be named: Node turns TLS 1.3 off when `ciphers` lists no TLS 1.3 suite.
 */
export const TLS13_CIPHERS = ["TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256"] as const;

/** The secure context: certificate, minimum version and the suite policy, also used on every reload. */
export function secureOptions(material: ServerTlsMaterial, minVersion: Config["tls"]["minVersion"]): tls.SecureContextOptions {
  return {
    key: material.key,
    cert: material.cert,
    minVersion,
    ciphers: [...TLS13_CIPHERS, ...TLS12_CIPHERS].join(":"),
    // The server's order wins, so a client that lists a weaker suite first still gets AES-GCM.
    honorCipherOrder: true,
  };
}

export interface TlsWatcher {
  close(): void;
}

/**
 * Watches the directories of the certificate files (files are often replaced by rename, which a
 * watch on the file itself would miss) and calls `onChange` once per burst of changes.
 */
export function watchTlsFiles(files: string[], onChange: () => void, debounceMs = 150): TlsWatcher {
  const byDir = new Map<string, Set<string>>();
  for (const f of files) {
    const dir = path.dirname(f);
    if (!byDir.has(dir)) byDir.set(dir, new Set());
    byDir.get(dir)!.add(path.basename(f));
  }
  let timer: NodeJS.Timeout | undefined;
  const watchers = [...byDir].map(([dir, names]) =>
    fs.watch(dir, { persistent: false }, (_event, name) => {
      if (name !== null && !names.has(name.toString())) return;
      clearTimeout(timer);
      timer = setTimeout(onChange, debounceMs);
    }),
  );
  for (const w of watchers) w.on("error", () => undefined);
  return {
    close() {
      clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}
