/**
 * Outgoing mail (SPEC §3 `mail.*`): through the SMTP server of `mail.smtp`, or, without one, as
 * `.eml` files under `<dataDir>/outbox` so that a first run can still follow a reset link. Both are
 * nodemailer transports, so a message is built the same way whichever carries it.
 *
 * Sending never throws into a request: callers fire and forget, failures are logged here. Bodies are
 * never logged (they carry reset links).
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type nodemailer from "nodemailer";
import type { Transporter } from "nodemailer";
import { lazyRequire } from "../lazy-require.js";
import type { Logger } from "../log/logger.js";

// Most gateways send a mail now and then or never: nodemailer (~2 MB of heap) loads at the first.
const loadNodemailer = lazyRequire<typeof nodemailer>("nodemailer");

/** A transport made at its first use, and closed only if it was made. */
function lazyTransport(make: (mailer: typeof nodemailer) => Transporter): { get(): Transporter; close(): void } {
  let transport: Transporter | undefined;
  return {
    get: () => (transport ??= make(loadNodemailer())),
    close: () => transport?.close(),
  };
}

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
}

export interface Mailer {
  /** Where messages go, for the startup log: the SMTP host or the outbox folder. */
  readonly target: string;
  /** Resolves true when the message was handed over, false when that failed (and was logged). */
  send(message: MailMessage): Promise<boolean>;
  close(): void;
}

export interface MailSettings {
  smtp?: { href: string; host: string };
  from?: string;
}

const DEFAULT_FROM = "portcullis@localhost";

export function createMailer(settings: MailSettings, dataDir: string, log: Logger): Mailer {
  const from = settings.from ?? DEFAULT_FROM;
  if (settings.smtp) {
    const smtp = settings.smtp.href;
    const transport = lazyTransport((mailer) => mailer.createTransport(smtp));
    return {
      target: `smtp ${settings.smtp.host}`,
      async send(message) {
        try {
          await transport.get().sendMail({ from, ...message });
          log.info({ to: message.to, subject: message.subject }, "mail sent");
          return true;
        } catch (err) {
          log.error({ to: message.to, subject: message.subject, err: (err as Error).message }, "mail could not be sent");
          return false;
        }
      },
      close: () => transport.close(),
    };
  }
  const outbox = path.join(dataDir, "outbox");
  const transport = lazyTransport((mailer) => mailer.createTransport({ streamTransport: true, buffer: true, newline: "unix" }));
  return {
    target: outbox,
    async send(message) {
      try {
        const info = await transport.get().sendMail({ from, ...message });
        fs.mkdirSync(outbox, { recursive: true, mode: 0o700 });
        const file = path.join(outbox, `${new Date().toISOString().replace(/[:.]/g, "-")}-${randomBytes(4).toString("hex")}.eml`);
        // Reset links are secrets: readable by the gateway's user only.
        fs.writeFileSync(file, info.message as Buffer, { mode: 0o600 });
        log.info({ to: message.to, subject: message.subject, file }, "mail written to the outbox (no mail.smtp configured)");
        return true;
      } catch (err) {
        log.error({ to: message.to, subject: message.subject, err: (err as Error).message }, "mail could not be written to the outbox");
        return false;
      }
    },
    close: () => transport.close(),
  };
}
