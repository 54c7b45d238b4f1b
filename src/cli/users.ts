/**
 * `portcullis users …` and `portcullis db password`: local accounts, straight in the configured store.
 * Every change is audited (issue #15): the command logs an audit line on standard error with
 * `by: "cli"` and the operating-system user, and announces it to the gateways sharing the store,
 * which log it too (src/log/audit-relay.ts).
 */
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { systemClock } from "../clock.js";
import { compileSite } from "../config/site.js";
import type { Config } from "../config/schema.js";
import { Accounts, AccountError, type UserRecord } from "../auth/local/accounts.js";
import { hashPassword, schemeOf } from "../auth/passwords/hash.js";
import { checkNewPassword } from "../auth/passwords/policy.js";
import { auditFromCli } from "../log/audit-relay.js";
import { createCliAuditLogger, createLogger, type Logger } from "../log/logger.js";
import { Regulation } from "../regulation/regulation.js";
import { openStore } from "../store/open-store.js";
import type { Store } from "../store/store.js";
import { loadConfigOrExit } from "./load-config.js";
import { promptNewPassword } from "./prompt.js";

/** Records an account change: an audit line here and on every gateway that shares the store. */
type Audit = (event: string, fields: Record<string, unknown>) => Promise<void>;

let auditLog: Logger | undefined;

async function withAccounts<T>(configFile: string | undefined, fn: (accounts: Accounts, store: Store, config: Config, audit: Audit) => Promise<T>): Promise<T> {
  const { config } = loadConfigOrExit(configFile);
  const store = await openStore(config, createLogger({ level: "error" }));
  const audit: Audit = (event, fields) => auditFromCli(store, (auditLog ??= createCliAuditLogger()), event, fields);
  try {
    return await fn(new Accounts(store, systemClock), store, config, audit);
  } finally {
    await store.close();
  }
}

/** A refusal: thrown, not exited on, so that `withAccounts` closes the store (and its lock) first. */
class CliRefusal extends Error {}

function fail(message: string): never {
  throw new CliRefusal(message);
}

/** Runs a command's action; a refusal prints its message and sets exit status 2 after cleanup. */
function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      if (!(err instanceof CliRefusal)) throw err;
      console.error(`portcullis: ${err.message}`);
      process.exitCode = 2;
    }
  };
}

/** "user; scientists ;admin" → ["user", "scientists", "admin"]. */
function splitRoles(text: string, separator: string): string[] {
  return text.split(separator).map((r) => r.trim()).filter(Boolean);
}

async function newPassword(config: Config, user: UserRecord | null): Promise<string> {
  const password = await promptNewPassword("the new password").catch((e: Error) => fail(e.message));
  const problem = await checkNewPassword(user, password, compileSite(config.site), Date.now());
  if (problem) fail(problem.message);
  return password;
}

interface ImportRow {
  name: string;
  password?: string;
  passwordHash?: string;
  roles?: string[] | string;
  email?: string;
}

/** JSON (a list of users) or CSV with a header line: name,passwordHash|password,roles,email (roles separated by ";"). */
export function parseImport(text: string, file: string): ImportRow[] {
  if (file.endsWith(".json") || text.trimStart().startsWith("[")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new Error(`${file} is not valid JSON (${(err as Error).message})`);
    }
    if (!Array.isArray(parsed)) throw new Error(`${file} must hold a JSON list of accounts: [{"name": …, "password" or "passwordHash": …, "roles": […], "email": …}]`);
    // A row that is not an object is kept as an empty one, so that it is reported and skipped by its number.
    return parsed.map((item: unknown) => (item !== null && typeof item === "object" && !Array.isArray(item) ? item : {}) as ImportRow);
  }
  const [header, ...lines] = text.split(/\r?\n/).filter((l) => l.trim() !== "");
  const columns = (header ?? "").split(",").map((c) => c.trim());
  return lines.map((line) => {
    const cells = line.split(",").map((c) => c.trim());
    const row = Object.fromEntries(columns.map((c, i) => [c, cells[i] ?? ""])) as Record<string, string>;
    return { name: row.name ?? "", password: row.password || undefined, passwordHash: row.passwordHash || row.password_hash || undefined, roles: splitRoles(row.roles ?? "", ";"), email: row.email || undefined };
  });
}

/** Why a row (from JSON, where any type may turn up) cannot be imported, or null. */
function rowProblem(row: ImportRow): string | null {
  if (typeof row.name !== "string" || row.name === "") return "name must be a non-empty string";
  for (const key of ["password", "passwordHash", "email"] as const) {
    if (row[key] !== undefined && row[key] !== null && typeof row[key] !== "string") return `${key} must be a string`;
  }
  const roles: unknown = row.roles;
  if (roles !== undefined && typeof roles !== "string" && !(Array.isArray(roles) && roles.every((r) => typeof r === "string"))) return "roles must be a list of strings";
  return null;
}

export function registerUsers(program: Command): void {
  const users = program.command("users").description("local accounts (in the configured store; stop a gateway on the embedded store first)");
  const cfg = (c: Command) => c.option("-c, --config <file>", "configuration file");

  cfg(users.command("add <name>").description("create an account; asks for its password twice"))
    .option("--roles <list>", "comma-separated roles, e.g. admin", "")
    .option("--email <email>")
    .action(action(async (name: string, opts: { config?: string; roles: string; email?: string }) => {
      await withAccounts(opts.config, async (accounts, _store, config, audit) => {
        if (await accounts.get(name)) fail(`user ${name} already exists`);
        const password = await newPassword(config, null);
        const user = await accounts.add({ name, password, roles: splitRoles(opts.roles, ","), email: opts.email }).catch((e: AccountError) => fail(e.message));
        await audit("account.created", { user: name, roles: user.roles });
        console.log(`created ${name}`);
      });
    }));

  cfg(users.command("passwd <name>").description("set a new password; asks for it twice"))
    .action(action(async (name: string, opts: { config?: string }) => {
      await withAccounts(opts.config, async (accounts, _store, config, audit) => {
        const user = await accounts.get(name);
        if (!user) fail(`no user ${name}`);
        const password = await newPassword(config, user);
        const { sessionsEnded } = await accounts.setPasswordHash(name, await hashPassword(password));
        await audit("password.changed", { user: name, sessionsEnded });
        console.log(`password of ${name} changed`);
      });
    }));

  cfg(users.command("list").description("list accounts with roles, state and last login"))
    .action(action(async (opts: { config?: string }) => {
      await withAccounts(opts.config, async (accounts, store) => {
        const rows = await Promise.all(
          (await accounts.list()).map(async (u) => {
            const f = await store.getLoginFailures(u.name);
            return {
              name: u.name,
              roles: u.roles.join(","),
              enabled: u.enabled ? "yes" : `no (${u.disabledReason ?? "admin"})`,
              failures: f.failures,
              lockedSince: f.lockedAt === null ? "" : new Date(f.lockedAt).toISOString(),
              lastLogin: u.lastLoginAt === null ? "never" : new Date(u.lastLoginAt).toISOString(),
              hash: schemeOf(u.passwordHash) ?? "unknown",
            };
          }),
        );
        if (rows.length === 0) console.log("no accounts");
        else console.table(rows);
      });
    }));

  for (const [verb, enabled] of [["disable", false], ["enable", true]] as const) {
    cfg(users.command(`${verb} <name>`).description(`${verb} an account`)).action(action(async (name: string, opts: { config?: string }) => {
      await withAccounts(opts.config, async (accounts, _store, _config, audit) => {
        const { sessionsEnded } = await accounts.setEnabled(name, enabled).catch((e: AccountError) => fail(e.message));
        if (enabled) await audit("account.enabled", { user: name });
        else await audit("account.disabled", { user: name, reason: "admin", sessionsEnded });
        console.log(`${name} ${enabled ? "enabled" : "disabled"}`);
      });
    }));
  }

  cfg(users.command("unlock <name>").description("clear failed logins and any lock"))
    .action(action(async (name: string, opts: { config?: string }) => {
      await withAccounts(opts.config, async (accounts, store, config, audit) => {
        if (!(await accounts.get(name))) fail(`no user ${name}`);
        const regulation = new Regulation({ store, clock: systemClock, site: () => compileSite(config.site), ipLimit: config.regulation.maxFailuresPerIp, audit });
        await regulation.unlock(name, { by: "cli" });
        console.log(`${name} unlocked`);
      });
    }));

  cfg(users.command("import <file>").description("import accounts from JSON or CSV; legacy OMERO/XNAT hashes are stored wrapped in argon2id and replaced at the next login"))
    .action(action(async (file: string, opts: { config?: string }) => {
      const rows = parseImport(fs.readFileSync(file, "utf8"), file);
      await withAccounts(opts.config, async (accounts, _store, _config, audit) => {
        let created = 0;
        for (const [i, row] of rows.entries()) {
          const problem = rowProblem(row);
          if (problem) {
            console.error(`row ${i + 1}${typeof row.name === "string" ? ` (${row.name})` : ""}: ${problem}; skipped`);
            continue;
          }
          // An empty hash or password counts as absent, so that the other one is used.
          const passwordHash = row.passwordHash || undefined;
          const password = row.password || undefined;
          if (passwordHash && schemeOf(passwordHash) === null) {
            console.error(`row ${i + 1} (${row.name}): the password hash is not argon2id, OMERO MD5 or XNAT SHA-256; skipped`);
            continue;
          }
          if (!passwordHash && !password) {
            console.error(`row ${i + 1} (${row.name}): no password or passwordHash; skipped`);
            continue;
          }
          const roles = Array.isArray(row.roles) ? row.roles : splitRoles(row.roles ?? "", ";");
          let user: UserRecord;
          try {
            user = await accounts.add({ name: row.name, password, passwordHash, roles, email: row.email || undefined });
          } catch (e) {
            if (!(e instanceof AccountError)) throw e;
            console.error(`row ${i + 1} (${row.name}): ${e.message}; skipped`);
            continue;
          }
          created++;
          await audit("account.created", { user: user.name, roles: user.roles, reason: "import", file: path.resolve(file), hash: schemeOf(user.passwordHash) });
        }
        console.log(`imported ${created} of ${rows.length} accounts`);
      });
    }));

  const db = program.command("db").description("store maintenance");
  cfg(db.command("password").description("make a new password hash (OMERO's `bin/omero db password`); --apply writes it"))
    .option("--user <name>", "the account", "root")
    .option("--apply", "write the new hash to the store")
    .action(action(async (opts: { config?: string; user: string; apply?: boolean }) => {
      const password = await promptNewPassword(`password for user ${opts.user}`).catch((e: Error) => fail(e.message));
      const hash = await hashPassword(password);
      console.log(`new hash: ${hash}`);
      if (!opts.apply) {
        console.log("");
        console.log("To set it, run:");
        console.log(`  portcullis db password --user ${opts.user} --apply`);
        console.log("or, with Redis, edit the account record (JSON) and set its passwordHash:");
        console.log(`  redis-cli GET 'pc:{r:user}:${opts.user}'   # then SET it back with "passwordHash":"${hash}"`);
        return;
      }
      await withAccounts(opts.config, async (accounts, _store, _config, audit) => {
        if (await accounts.get(opts.user)) {
          const { sessionsEnded } = await accounts.setPasswordHash(opts.user, hash);
          await audit("password.changed", { user: opts.user, sessionsEnded, via: "db password" });
        } else {
          const user = await accounts.add({ name: opts.user, passwordHash: hash, roles: ["admin"] }).catch((e: AccountError) => fail(e.message));
          await audit("account.created", { user: opts.user, roles: user.roles, via: "db password" });
        }
        console.log(`password of ${opts.user} set`);
      });
    }));
}
