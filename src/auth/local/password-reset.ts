/**
 * Forgot password (SPEC §6.3): a single-use link valid for one hour, mailed to a local account's
 * address. The link carries 256 random bits; the store keeps only their SHA-256, so a copy of the
 * store holds no usable link. A link also dies when the password changes by any other way, and
 * when a newer link is mailed: only the newest works.
 *
 * Asking never tells whether an account exists: the caller answers the same at once and this work
 * happens afterwards. At most one mail per account per minute (across processes), so the form
 * cannot be used to flood someone's mailbox.
 */
import { createHash, randomBytes } from "node:crypto";
import type { Clock } from "../../clock.js";
import type { Regulation } from "../../regulation/regulation.js";
import type { Site } from "../../config/site.js";
import { audit, type Logger } from "../../log/logger.js";
import type { Mailer } from "../../mail/mailer.js";
import { recordKind, type Store } from "../../store/store.js";
import { hashPassword } from "../passwords/hash.js";
import { checkNewPassword, type PasswordProblem } from "../passwords/policy.js";
import type { Accounts, UserRecord } from "./accounts.js";

export const RESET_LINK_TTL_MS = 60 * 60 * 1000;
const MAIL_INTERVAL_MS = 60 * 1000;
const KIND = recordKind<ResetRecord>("password-reset");
/** Per account, the id of its newest link: asking again replaces the link mailed before (only the newest works). */
const LATEST_KIND = recordKind<LatestLink>("password-reset-latest");

interface LatestLink {
  /** The account, also the record's id. */
  user: string;
  /** The newest link's record id. */
  id: string;
  /** When that link expires; after it this pointer is only garbage (prune). */
  expiresAt: number;
}

interface ResetRecord {
  /** SHA-256 of the token, also the record's id. */
  id: string;
  user: string;
  expiresAt: number;
  /** A digest of the account's password hash when the link was made: any change since voids the link. */
  passwordDigest: string;
}

export type ResetResult = { ok: true; user: string } | { ok: false; problem: PasswordProblem | { code: "ERR_RESET_LINK"; message: string } };

const INVALID_LINK = { code: "ERR_RESET_LINK", message: "This reset link is not valid: it has been used, has expired or was replaced. Ask for a new one." } as const;

function idOf(token: string): string {
  return createHash("sha256").update(token).digest("base64url");
}

/** Moves with every new password (each hash has its own salt), even one set in the same millisecond. */
function passwordDigest(account: UserRecord): string {
  return createHash("sha256").update(account.passwordHash).digest("base64url");
}

export interface PasswordResetDeps {
  store: Store;
  accounts: Accounts;
  clock: Clock;
  mailer: Mailer;
  log: Logger;
  site: () => Site;
  /** Unlocks the account a reset proves (`canResetFailedLoginsWithForgotPassword`). */
  regulation: Pick<Regulation, "unlock">;
  /** The reset page's absolute URL, to which `?token=` is added. */
  resetUrl: () => string;
  /** Distinguishes this process in the store's mail-rate lock. */
  owner: string;
}

export class PasswordResets {
  constructor(private readonly d: PasswordResetDeps) {}

  /** Mails a link when `name` is an enabled local account with an email address; otherwise nothing. */
  async request(name: string, ip: string): Promise<void> {
    const { d } = this;
    const account = await d.accounts.get(name);
    if (!account || !account.enabled || !account.email) {
      audit(d.log, "password.reset-requested", { user: name, sent: false, reason: !account ? "no-account" : !account.enabled ? "disabled" : "no-email", ip });
      return;
    }
    const now = d.clock.now();
    if (!(await d.store.tryLock(`reset-mail:${account.name}`, d.owner, MAIL_INTERVAL_MS, now))) {
      audit(d.log, "password.reset-requested", { user: account.name, sent: false, reason: "rate", ip });
      return;
    }
    const token = randomBytes(32).toString("base64url");
    const record: ResetRecord = { id: idOf(token), user: account.name, expiresAt: now + RESET_LINK_TTL_MS, passwordDigest: passwordDigest(account) };
    // The pointer moves first: from then on the earlier link is refused (check), even if what
    // follows fails. Its record is then removed in the same write that stores the new one.
    const previous = await d.store.getRecord(LATEST_KIND, account.name);
    await d.store.putRecord(LATEST_KIND, account.name, { user: account.name, id: record.id, expiresAt: record.expiresAt });
    await d.store.writeRecords(KIND, [[record.id, record]], previous && previous.id !== record.id ? [previous.id] : []);
    const link = `${d.resetUrl()}?token=${token}`;
    const sent = await d.mailer.send({
      to: account.email,
      subject: "Reset your password",
      text:
        `Someone (we hope you) asked to reset the password of the account "${account.name}".\n\n` +
        `To choose a new password, open this link within one hour:\n\n${link}\n\n` +
        `The link works once. If you did not ask for it, ignore this message: your password stays as it is.\n`,
    });
    audit(d.log, "password.reset-requested", { user: account.name, sent, ip });
  }

  /** The account a link may reset, or null when the link is unknown, used, expired or void. */
  async check(token: string): Promise<{ record: ResetRecord; account: UserRecord } | null> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return null;
    const record = await this.d.store.getRecord(KIND, idOf(token));
    if (!record || record.expiresAt <= this.d.clock.now()) return null;
    // Replaced by a newer link. (A link made before pointers existed has none, and stands alone.)
    const latest = await this.d.store.getRecord(LATEST_KIND, record.user);
    if (latest && latest.id !== record.id) return null;
    const account = await this.d.accounts.get(record.user);
    if (!account || !account.enabled || passwordDigest(account) !== record.passwordDigest) return null;
    return { record, account };
  }

  /**
   * Sets a new password through a link. The link is spent only by a password that passes the rules,
   * so a refused one can be corrected; of two uses racing, only the one that deletes the record wins.
   */
  async complete(token: string, password: string, ip: string): Promise<ResetResult> {
    const { d } = this;
    const found = await this.check(token);
    if (!found) return { ok: false, problem: INVALID_LINK };
    const site = d.site();
    const problem = await checkNewPassword(found.account, password, site, d.clock.now());
    if (problem) return { ok: false, problem };
    if (!(await d.store.deleteRecord(KIND, found.record.id))) return { ok: false, problem: INVALID_LINK };
    const user = found.account.name;
    await d.accounts.setPasswordHash(user, await hashPassword(password));
    audit(d.log, "password.reset", { user, ip });
    if (site.canResetFailedLoginsWithForgotPassword) await d.regulation.unlock(user, { by: "password-reset", ip }, "if-counted");
    return { ok: true, user };
  }

  /** Deletes links past their hour (they are refused anyway; this only frees the store), and their pointers. */
  async prune(now: number): Promise<number> {
    let removed = 0;
    for (const record of await this.d.store.listRecords(KIND)) {
      if (record.expiresAt <= now && (await this.d.store.deleteRecord(KIND, record.id))) removed++;
    }
    const stale = (await this.d.store.listRecords(LATEST_KIND)).filter((p) => p.expiresAt <= now);
    if (stale.length > 0) await this.d.store.writeRecords(LATEST_KIND, [], stale.map((p) => p.user));
    return removed;
  }
}
