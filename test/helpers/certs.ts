/** Certificates made by the tests: a CA and server certificates for 127.0.0.1/localhost, written to a temp dir. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createCa, issueCertificate, type IssueOptions, type Pem } from "../../src/tls/dev-ca.js";

export interface TestPki {
  dir: string;
  ca: Pem;
  caFile: string;
  /** Writes a fresh server certificate signed by the CA and returns the file names. */
  issue(name: string, options?: Partial<IssueOptions>): { certFile: string; keyFile: string; pem: Pem };
  cleanup(): void;
}

let sharedCa: Pem | undefined;

export function makePki(): TestPki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "portcullis-pki-"));
  // One CA per test process: RSA key generation is the slow part.
  sharedCa ??= createCa("portcullis test CA");
  const ca = sharedCa;
  const caFile = path.join(dir, "ca.pem");
  fs.writeFileSync(caFile, ca.cert);
  return {
    dir,
    ca,
    caFile,
    issue(name, options = {}) {
      const pem = issueCertificate(ca, { hosts: ["127.0.0.1", "localhost"], commonName: name, ...options });
      const certFile = path.join(dir, `${name}.pem`);
      const keyFile = path.join(dir, `${name}.key`);
      fs.writeFileSync(certFile, pem.cert);
      fs.writeFileSync(keyFile, pem.key);
      return { certFile, keyFile, pem };
    },
    cleanup() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
