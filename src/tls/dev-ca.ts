/**
 * A development certificate authority and server certificates signed by it (`portcullis certs init`,
 * and the certificates tests make). Keys come from node:crypto; node-forge only builds and signs the
 * X.509 structures.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import net from "node:net";
import { lazyRequire } from "../lazy-require.js";
import type forge from "node-forge";

// Loaded at first use: a gateway on PEM files never needs them (lazy-require.ts).
const nodeForge = lazyRequire<typeof forge>("node-forge");

export interface Pem {
  cert: string;
  key: string;
}

export interface IssueOptions {
  /** DNS names and IP addresses for subjectAltName. */
  hosts: string[];
  commonName?: string;
  /** Validity start and length; defaults to now and 825 days (the most browsers accept). */
  notBefore?: Date;
  days?: number;
  /** For client certificates (LDAP keyStore). */
  clientAuth?: boolean;
}

function newKeys(): { forgeKey: forge.pki.rsa.PrivateKey; forgePublic: forge.pki.rsa.PublicKey; pem: string } {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const forgeKey = nodeForge().pki.privateKeyFromPem(pem) as forge.pki.rsa.PrivateKey;
  const forgePublic = nodeForge().pki.setRsaPublicKey(forgeKey.n, forgeKey.e);
  return { forgeKey, forgePublic, pem };
}

function serial(): string {
  // Positive, 16 random bytes (RFC 5280 §4.1.2.2 allows up to 20 octets).
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString("hex");
}

function validity(cert: forge.pki.Certificate, notBefore: Date, days: number): void {
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = new Date(notBefore.getTime() + days * 86_400_000);
}

export function createCa(commonName = "portcullis development CA", days = 3650, notBefore = new Date(Date.now() - 60_000)): Pem {
  const keys = newKeys();
  const cert = nodeForge().pki.createCertificate();
  cert.publicKey = keys.forgePublic;
  cert.serialNumber = serial();
  validity(cert, notBefore, days);
  const attrs = [{ name: "commonName", value: commonName }, { name: "organizationName", value: "portcullis" }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: "basicConstraints", cA: true, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ]);
  cert.sign(keys.forgeKey, nodeForge().md.sha256.create());
  return { cert: nodeForge().pki.certificateToPem(cert), key: keys.pem };
}

export function issueCertificate(ca: Pem, options: IssueOptions): Pem {
  const caCert = nodeForge().pki.certificateFromPem(ca.cert);
  const caKey = nodeForge().pki.privateKeyFromPem(ca.key);
  const keys = newKeys();
  const cert = nodeForge().pki.createCertificate();
  cert.publicKey = keys.forgePublic;
  cert.serialNumber = serial();
  validity(cert, options.notBefore ?? new Date(Date.now() - 60_000), options.days ?? 825);
  cert.setSubject([{ name: "commonName", value: options.commonName ?? options.hosts[0] ?? "localhost" }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: !options.clientAuth, clientAuth: Boolean(options.clientAuth) },
    {
      name: "subjectAltName",
      altNames: options.hosts.map((h) => (net.isIP(h) ? { type: 7, ip: h } : { type: 2, value: h })),
    },
    { name: "subjectKeyIdentifier" },
    { name: "authorityKeyIdentifier", keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, nodeForge().md.sha256.create());
  return { cert: nodeForge().pki.certificateToPem(cert), key: keys.pem };
}

/** Packs a key and its chain into a PKCS#12 file (3DES, as Java keytool and OpenSSL read). */
export function toPkcs12(pem: Pem, chain: string[], password: string): Buffer {
  const p12 = nodeForge().pkcs12.toPkcs12Asn1(
    nodeForge().pki.privateKeyFromPem(pem.key),
    [pem.cert, ...chain].map((c) => nodeForge().pki.certificateFromPem(c)),
    password,
    { algorithm: "3des", friendlyName: "portcullis" },
  );
  return Buffer.from(nodeForge().asn1.toDer(p12).getBytes(), "binary");
}
