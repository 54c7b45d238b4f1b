/** The LDAP provider the config names, for the gateway and the commands that need one. */
import type { Config } from "../config/schema.js";
import type { Logger } from "../log/logger.js";
import { Directory, directorySettings } from "./directory.js";
import { loadLdapTls } from "./tls.js";

/** The provider when `ldap.url` is set; its trust and key stores are read now, so a bad one stops the start. */
export function openDirectory(config: Config, log: Logger, cwd: string): Directory | null {
  const settings = directorySettings(config, loadLdapTls(config.security, cwd));
  if (!settings) return null;
  log.info({ url: config.ldap.url!.href, startTls: config.ldap.startTls, trustStore: config.security.trustStore ?? "system CAs", clientCertificate: Boolean(config.security.keyStore) }, "LDAP provider on");
  return new Directory(settings, log.child({ component: "ldap" }));
}
