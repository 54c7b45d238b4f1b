/** `portcullis certs init|inspect`: development certificates and a readable view of any certificate file. */
import path from "node:path";
import type { Command } from "commander";
import { systemClock } from "../clock.js";
import { GatewayError } from "../errors.js";
import { writeDevCertificates } from "../tls/dev-files.js";
import { formatSummary, inspectFile } from "../tls/inspect.js";

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
      console.log(`  curl:     curl --cacert ${files.caCert} https://localhost:4064/`);
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
}
