/** Adding a CA to a PEM truststore file (`certs trust`): appended once, never rewriting what is there. */
import fs from "node:fs";
import path from "node:path";
import { X509Certificate } from "node:crypto";
import { detectFormat, pemBlocks } from "./keystore.js";

export class TruststoreFileError extends Error {}

/** The certificates (PEM) in the truststore file; none when it does not exist. Only PEM files qualify. */
export function readTruststorePem(file: string): string[] {
  if (!fs.existsSync(file)) return [];
  const data = fs.readFileSync(file);
  const format = detectFormat(data);
  if (format !== "pem") {
    throw new TruststoreFileError(
      `${file} is a ${format === "jks" ? "JKS" : "PKCS#12"} store; certs trust only adds to PEM bundles. Use --store with a .pem file (and point security.trustStore at it), or add the CA with keytool -importcert`,
    );
  }
  return pemBlocks(data.toString("utf8"), /CERTIFICATE$/);
}

function presentFingerprints(file: string): Set<string> {
  return new Set(readTruststorePem(file).map((p) => new X509Certificate(p).fingerprint256));
}

/** Appends `cert` (with a comment naming it) unless present; returns whether it was added. */
export function addToTruststore(file: string, cert: X509Certificate): boolean {
  if (presentFingerprints(file).has(cert.fingerprint256)) return false;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const existing = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  const separator = existing === "" || existing.endsWith("\n") ? "" : "\n";
  const comment = `# ${cert.subject.replace(/\n/g, ", ")}\n# sha256 ${cert.fingerprint256}, added ${new Date().toISOString()} by portcullis certs trust\n`;
  fs.appendFileSync(file, `${separator}${comment}${cert.toString()}`, { mode: 0o644 });
  return true;
}
