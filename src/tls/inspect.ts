/** Describes certificates for `certs inspect` and `doctor`: subject, SANs, issuer, validity, days left. */
import { X509Certificate } from "node:crypto";
import type { Clock } from "../clock.js";
import { readStore } from "./keystore.js";

export interface CertificateSummary {
  subject: string;
  issuer: string;
  subjectAltNames: string[];
  validFrom: string;
  validTo: string;
  daysLeft: number;
  fingerprint256: string;
  isCa: boolean;
}

export function summarise(pem: string, clock: Clock): CertificateSummary {
  const cert = new X509Certificate(pem);
  const validTo = new Date(cert.validTo);
  return {
    subject: cert.subject.replace(/\n/g, ", "),
    issuer: cert.issuer.replace(/\n/g, ", "),
    subjectAltNames: cert.subjectAltName ? cert.subjectAltName.split(", ") : [],
    validFrom: new Date(cert.validFrom).toISOString(),
    validTo: validTo.toISOString(),
    daysLeft: Math.floor((validTo.getTime() - clock.now()) / 86_400_000),
    fingerprint256: cert.fingerprint256,
    isCa: cert.ca,
  };
}

export function inspectFile(file: string, password: string | undefined, clock: Clock): { summaries: CertificateSummary[]; hasKey: boolean } {
  const material = readStore(file, password, "FILE", "--password");
  return { summaries: material.certs.map((c) => summarise(c, clock)), hasKey: material.key !== undefined };
}

export function formatSummary(s: CertificateSummary): string {
  const status = s.daysLeft < 0 ? `EXPIRED ${-s.daysLeft} days ago` : `${s.daysLeft} days left`;
  return [
    `subject:     ${s.subject}`,
    `SANs:        ${s.subjectAltNames.length ? s.subjectAltNames.join(", ") : "(none)"}`,
    `issuer:      ${s.issuer}${s.subject === s.issuer ? " (self-signed)" : ""}`,
    `valid:       ${s.validFrom} → ${s.validTo} (${status})`,
    `CA:          ${s.isCa ? "yes" : "no"}`,
    `sha256:      ${s.fingerprint256}`,
  ].join("\n");
}
