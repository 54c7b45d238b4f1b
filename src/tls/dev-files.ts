/** Writes a development CA and a server certificate signed by it to files (`certs init`, first start). */
import fs from "node:fs";
import path from "node:path";
import { createCa, issueCertificate } from "./dev-ca.js";

export interface DevFiles {
  caCert: string;
  caKey: string;
  cert: string;
  key: string;
}

export function writeDevCertificates(dir: string, hosts: string[], names: { cert?: string; key?: string } = {}): DevFiles {
  fs.mkdirSync(dir, { recursive: true });
  const files: DevFiles = {
    caCert: path.join(dir, "ca.pem"),
    caKey: path.join(dir, "ca.key"),
    cert: names.cert ?? path.join(dir, "server.pem"),
    key: names.key ?? path.join(dir, "server.key"),
  };
  // Reuse an existing development CA so that a browser that trusts it keeps trusting new certificates.
  const ca = fs.existsSync(files.caCert) && fs.existsSync(files.caKey)
    ? { cert: fs.readFileSync(files.caCert, "utf8"), key: fs.readFileSync(files.caKey, "utf8") }
    : createCa();
  const server = issueCertificate(ca, { hosts, commonName: hosts[0] });
  fs.writeFileSync(files.caCert, ca.cert);
  fs.writeFileSync(files.caKey, ca.key, { mode: 0o600 });
  // The chain file carries the CA too, so clients that only trust it can build the path.
  fs.writeFileSync(files.cert, server.cert + ca.cert);
  fs.writeFileSync(files.key, server.key, { mode: 0o600 });
  return files;
}
