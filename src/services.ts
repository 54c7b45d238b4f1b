/**
 * The gateway's domain services, built from a validated config in dependency order: the store, the
 * live site-config, accounts and the guest, sessions, regulation and logins, mail and password
 * resets, CSRF alerts and the sweeps. The request path (./request-path.ts) and the listeners use them.
 */
import { randomUUID } from "node:crypto";
import path from "node:path";
import { Accounts } from "./auth/local/accounts.js";
import { ensureAdmin } from "./auth/local/bootstrap.js";
import { PasswordResets } from "./auth/local/password-reset.js";
import { LoginService } from "./auth/login.js";
import type { Clock } from "./clock.js";
import { LiveSite } from "./admin/live-site.js";
import type { Config } from "./config/schema.js";
import type { Site } from "./config/site.js";
import { Scheduler } from "./jobs/scheduler.js";
import { inactivityJob, resetFailedLoginsJob } from "./jobs/sweeps.js";
import type { Directory } from "./ldap/directory.js";
import { openDirectory } from "./ldap/open-directory.js";
import { audit, type Logger } from "./log/logger.js";
import { createMailer, type Mailer } from "./mail/mailer.js";
import { compileRules, type AccessRules } from "./policy/access-rules.js";
import { csrfReporter, type CsrfReporter } from "./policy/csrf-alert.js";
import { GuestPrincipal } from "./policy/guest.js";
import { Regulation } from "./regulation/regulation.js";
import { SessionService } from "./sessions/session-service.js";
import { openStore } from "./store/open-store.js";
import type { Store } from "./store/store.js";

export interface ServiceOptions {
  log: Logger;
  cwd: string;
  clock: Clock;
  /** Use this store instead of opening the configured one (it is not closed with the services). */
  store?: Store;
  /** First run: the admin password, or false to create no account. */
  adminPassword?: string | false;
  print?: (line: string) => void;
  /** Run the sweeps on their schedules (default true). */
  schedule?: boolean;
  /** The TLS listener's port, once it listens (for mailed reset links without `publicUrl`). */
  securePort: () => number;
}

export interface Services {
  readonly store: Store;
  readonly liveSite: LiveSite;
  /** The site-config values in force now (LiveSite's `current`). */
  readonly site: () => Site;
  readonly accounts: Accounts;
  readonly guest: GuestPrincipal;
  readonly sessions: SessionService;
  readonly regulation: Regulation;
  readonly logins: LoginService;
  readonly resets: PasswordResets;
  readonly reportCsrf: CsrfReporter;
  readonly scheduler: Scheduler;
  readonly directory: Directory | null;
  /** The access rules, compiled once for requests, upgrades and explain. */
  readonly rules: AccessRules;
  close(): Promise<void>;
}

export async function startServices(config: Config, o: ServiceOptions): Promise<Services> {
  const { log, clock } = o;
  const directory = openDirectory(config, log, o.cwd);
  const store = o.store ?? (await openStore(config, log, o.cwd));
  // The site-config values: the config's, then the REST overrides kept in the store (SPEC §3, §4).
  const liveSite = new LiveSite({ store, base: config.site, clock, log });
  await liveSite.load();
  const site = () => liveSite.current();
  const accounts = await Accounts.start(store, clock, log);
  if (o.adminPassword !== false) await ensureAdmin(accounts, log, o.adminPassword, o.print ?? ((line) => console.error(line)));
  const sessions = new SessionService({
    store,
    clock,
    log,
    idleTimeoutMs: () => site().sessionTimeoutMs,
    absoluteTimeoutMs: config.session.absoluteTimeout,
    maxSessions: () => site().concurrentMaxSessions,
    limitPolicy: config.session.limitPolicy,
  });
  await sessions.start();
  const regulation = new Regulation({ store, clock, site, ipLimit: config.regulation.maxFailuresPerIp, audit: (event, fields) => audit(log, event, fields) });
  const mailer = createMailer(config.mail, path.resolve(o.cwd, config.store.dataDir), log);
  warnAboutMail(config, log, mailer);
  const resets = new PasswordResets({
    store,
    accounts,
    clock,
    mailer,
    log,
    site,
    regulation,
    resetUrl: () => `${config.publicUrl ?? `https://localhost:${o.securePort()}`}${config.paths.prefix}/password/reset`,
    owner: randomUUID(),
  });
  const sweepDeps = { store, accounts, site, log, resets, regulation };
  const scheduler = new Scheduler([resetFailedLoginsJob(sweepDeps), inactivityJob(sweepDeps)], store, clock, log);
  if (o.schedule !== false) scheduler.start();
  return {
    store,
    liveSite,
    site,
    accounts,
    guest: new GuestPrincipal({ accounts, clock, site, log }),
    sessions,
    regulation,
    logins: new LoginService({ regulation, accounts, clock, site, log, directory }),
    resets,
    reportCsrf: csrfReporter({ site, store, clock, mailer, adminEmail: config.mail.adminEmail, log }),
    scheduler,
    directory,
    rules: compileRules(config.access),
    async close() {
      sessions.stop();
      liveSite.close();
      scheduler.stop();
      mailer.close();
      await directory?.close();
      if (!o.store) await store.close();
    },
  };
}

/** Says at startup where mail goes and which settings will keep it from being useful. */
function warnAboutMail(config: Config, log: Logger, mailer: Mailer): void {
  log.info({ mail: mailer.target }, "mail for password resets and alerts goes here");
  if (config.mail.smtp && config.publicUrl === undefined) {
    log.warn("publicUrl is not set: mailed reset links will name https://localhost; set publicUrl to the address users reach the gateway at");
  }
  if (config.site.csrfEmailAlert && config.mail.adminEmail === undefined) {
    log.warn("site.csrfEmailAlert is on but mail.adminEmail is not set: no CSRF alert will be mailed");
  }
}
