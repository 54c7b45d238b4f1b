/**
 * Reads key material the way OMERO admins hold it: PEM files, PKCS#12 keystores (node-forge, since
 * Node's `pfx` cannot be exported from and rejects cert-only or legacy files) and Java JKS (jks-js).
 * Every failure names the configuration key that pointed at the file.
 */
import fs from "node:fs";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { lazyRequire } from "../lazy-require.js";
import type forge from "node-forge";
import type jks from "jks-js";
import { TlsMaterialError } from "../errors.js";

// Loaded at first use: a gateway on PEM files never needs them (lazy-require.ts).
const jksJs = lazyRequire<typeof jks>("jks-js");
const nodeForge = lazyRequire<typeof forge>("node-forge");

export type StoreFormat = "pem" | "pkcs12" | "jks";

export interface KeyMaterial {
  /** PEM private key, when the store holds one. */
  key?: string;
  /** PEM certificates: the leaf first when there is a key, then its chain; for a truststore, every CA. */
  certs: string[];
}

/** Guesses the format from the file's first bytes (JKS magic, DER sequence, or PEM text). */
export function detectFormat(data: Buffer): StoreFormat {
  if (data.length >= 4 && data.readUInt32BE(0) === 0xfeedfeed) return "jks";
  if (data.includes("-----BEGIN")) return "pem";
  if (data[0] === 0x30) return "pkcs12";
  return "pem";
}

function readFile(file: string, key: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "does not exist" : code === "EACCES" ? "cannot be read (permission denied)" : `cannot be read (${code})`;
    throw new TlsMaterialError(key, `${file} ${why}`, err);
  }
}

export function pemBlocks(text: string, label: RegExp): string[] {
  const re = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]+?-----END \1-----/g;
  return [...text.matchAll(re)].filter((m) => label.test(m[1]!)).map((m) => `${m[0]}\n`);
}

/**
 * Reads a key store or trust store file.
 * @param key the configuration key naming the file (`tls.keyStore`), used in error messages
 * @param passwordKey the configuration key of its password, for "wrong password" errors
 */
export function readStore(file: string, password: string | undefined, key: string, passwordKey = `${key}Password`): KeyMaterial {
  const data = readFile(file, key);
  const format = detectFormat(data);
  let material: KeyMaterial;
  if (format === "pem") material = fromPem(data.toString("utf8"));
  else if (format === "pkcs12") material = fromPkcs12(data, password, file, key, passwordKey);
  else material = fromJks(data, password, file, key, passwordKey);
  for (const cert of material.certs) {
    try {
      new X509Certificate(cert);
    } catch (err) {
      throw new TlsMaterialError(key, `${file} holds a certificate that cannot be parsed`, err);
    }
  }
  if (material.certs.length === 0 && !material.key) throw new TlsMaterialError(key, `${file} holds no certificate or key (format: ${format})`);
  return material;
}

function fromPem(text: string): KeyMaterial {
  const key = pemBlocks(text, /PRIVATE KEY$/)[0];
  return { key, certs: orderLeafFirst(pemBlocks(text, /^(X509 |TRUSTED )?CERTIFICATE$/), key) };
}

function fromPkcs12(data: Buffer, password: string | undefined, file: string, key: string, passwordKey: string): KeyMaterial {
  let p12: forge.pkcs12.Pkcs12Pfx;
  try {
    const asn1 = nodeForge().asn1.fromDer(nodeForge().util.createBuffer(data.toString("binary")));
    p12 = nodeForge().pkcs12.pkcs12FromAsn1(asn1, false, password ?? "");
  } catch (err) {
    const message = (err as Error).message ?? "";
    // forge's words for a MAC or a decryption that failed, i.e. a wrong or missing password; other
    // failures (unsupported algorithms, damaged structure) are reported as they are.
    if (/invalid password|wrong password|failed to decrypt/i.test(message)) {
      throw new TlsMaterialError(
        passwordKey,
        password === undefined || password === "" ? `the PKCS#12 file ${file} is protected by a password and none was given` : `wrong password for the PKCS#12 file ${file} (or the file is damaged)`,
        err,
      );
    }
    throw new TlsMaterialError(key, `${file} is not a readable PKCS#12 file (${message})`, err);
  }
  const bags = (type: string): forge.pkcs12.Bag[] => p12.getBags({ bagType: type })[type] ?? [];
  const certBags = bags(nodeForge().pki.oids.certBag!);
  const keyBags = [...bags(nodeForge().pki.oids.pkcs8ShroudedKeyBag!), ...bags(nodeForge().pki.oids.keyBag!)];
  const certs = certBags.flatMap((b) => {
    if (b.cert) return [nodeForge().pki.certificateToPem(b.cert)];
    // Certificates with keys forge cannot model (EC) arrive as raw ASN.1.
    if (b.asn1) return [derToPem(nodeForge().asn1.toDer(b.asn1).getBytes())];
    return [];
  });
  const privateKey = keyBags[0]?.key ? nodeForge().pki.privateKeyToPem(keyBags[0].key) : undefined;
  return { key: privateKey, certs: orderLeafFirst(certs, privateKey) };
}

function derToPem(binary: string): string {
  const b64 = Buffer.from(binary, "binary").toString("base64").replace(/.{64}/g, "$&\n");
  return `-----BEGIN CERTIFICATE-----\n${b64}${b64.endsWith("\n") ? "" : "\n"}-----END CERTIFICATE-----\n`;
}

function fromJks(data: Buffer, password: string | undefined, file: string, key: string, passwordKey: string): KeyMaterial {
  let entries: Record<string, { cert?: string; key?: string; ca?: string }>;
  try {
    entries = jksJs().toPem(data, password ?? "");
  } catch (err) {
    const message = (err as Error).message ?? "";
    // jks-js says "Cannot recover key" when the key's password (the store's, here) is wrong or missing.
    if (/password|integrity|digest|recover/i.test(message)) {
      throw new TlsMaterialError(passwordKey, `wrong or missing password for the JKS file ${file} (or the file is damaged)`, err);
    }
    throw new TlsMaterialError(key, `${file} is not a readable JKS file (${message})`, err);
  }
  let privateKey: string | undefined;
  const certs: string[] = [];
  for (const entry of Object.values(entries)) {
    if (entry.key && !privateKey) {
      privateKey = entry.key;
      certs.unshift(...pemBlocks(entry.cert ?? "", /CERTIFICATE$/));
    } else {
      certs.push(...pemBlocks(entry.cert ?? entry.ca ?? "", /CERTIFICATE$/));
    }
  }
  return { key: privateKey, certs };
}

/** Puts the certificate matching the private key first, as a TLS server must present it. */
function orderLeafFirst(certs: string[], privateKey: string | undefined): string[] {
  if (!privateKey || certs.length < 2) return certs;
  let keyObject: ReturnType<typeof createPrivateKey>;
  try {
    keyObject = createPrivateKey(privateKey);
  } catch {
    // Unreadable (an encrypted PEM key): left as found, for the caller's check to name the key.
    return certs;
  }
  const leaf = certs.find((c) => new X509Certificate(c).checkPrivateKey(keyObject));
  return leaf ? [leaf, ...certs.filter((c) => c !== leaf)] : certs;
}

