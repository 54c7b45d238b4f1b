/**
 * First run: when there is no local account at all, an `admin` account is created with the password
 * from PORTCULLIS_ADMIN_PASSWORD, or a random one that is printed once (on stderr, never to the log).
 */
import { randomBytes } from "node:crypto";
import { audit, type Logger } from "../../log/logger.js";
import type { Accounts } from "./accounts.js";

export async function ensureAdmin(accounts: Accounts, log: Logger, password: string | undefined, print: (line: string) => void): Promise<void> {
  if ((await accounts.list()).length > 0) return;
  const chosen = password ?? randomBytes(12).toString("base64url");
  await accounts.add({ name: "admin", password: chosen, roles: ["admin"] });
  audit(log, "account.created", { user: "admin", reason: "first-run", passwordFrom: password ? "PORTCULLIS_ADMIN_PASSWORD" : "random" });
  if (!password) {
    print(`portcullis: created the first account "admin" with the password ${chosen}`);
    print("portcullis: it is shown this once; change it with `portcullis users passwd admin` or at /gateway/password");
  }
}
