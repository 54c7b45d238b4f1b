/**
 * A real SMTP peer for the mail tests: smtp-server on 127.0.0.1, port 0, no TLS, no auth. Every
 * message it accepts is kept with its envelope, its raw text and its decoded text body.
 */
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";

export interface ReceivedMail {
  /** The envelope's MAIL FROM. */
  from: string;
  /** The envelope's RCPT TO addresses. */
  to: string[];
  /** The message as it came over the wire. */
  raw: string;
  /** The decoded value of the Subject header. */
  subject: string;
  /** The text body, decoded from quoted-printable or base64 when so encoded. */
  text: string;
}

export interface TestSmtp {
  port: number;
  /** The `mail.smtp` value for a gateway config. */
  url: string;
  messages: ReceivedMail[];
  /** Resolves once at least `count` messages have arrived; rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedMail[]>;
  /** Holds every message at the end of DATA (no reply to the client) until the returned function is called. */
  hold(): () => void;
  /** Waits `ms` and resolves the messages that arrived after index `from` (to show that none did). */
  settle(from: number, ms?: number): Promise<ReceivedMail[]>;
  close(): Promise<void>;
}

/** Splits a raw message into its (unfolded, lower-cased name) headers and its body, and decodes the body. */
export function parseMail(raw: string): { headers: Map<string, string>; text: string } {
  const normalized = raw.replace(/\r\n/g, "\n");
  const cut = normalized.indexOf("\n\n");
  const head = cut === -1 ? normalized : normalized.slice(0, cut);
  const body = cut === -1 ? "" : normalized.slice(cut + 2);
  const headers = new Map<string, string>();
  for (const line of head.replace(/\n[ \t]+/g, " ").split("\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const encoding = (headers.get("content-transfer-encoding") ?? "7bit").toLowerCase();
  let text = body;
  if (encoding === "quoted-printable") {
    const bytes = body.replace(/=\n/g, "").replace(/=([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    text = Buffer.from(bytes, "latin1").toString("utf8");
  } else if (encoding === "base64") {
    text = Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8");
  }
  return { headers, text };
}

/** Decodes RFC 2047 encoded words (=?UTF-8?Q?…?= / =?UTF-8?B?…?=) in a header value. */
function decodeWords(value: string): string {
  return value
    .replace(/\?=\s+=\?/g, "?==?")
    .replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=/g, (_m, _charset: string, kind: string, data: string) =>
      kind.toUpperCase() === "B"
        ? Buffer.from(data, "base64").toString("utf8")
        : Buffer.from(data.replace(/_/g, " ").replace(/=([0-9A-Fa-f]{2})/g, (_n, hex: string) => String.fromCharCode(parseInt(hex, 16))), "latin1").toString("utf8"),
    );
}

export async function startTestSmtp(): Promise<TestSmtp> {
  const messages: ReceivedMail[] = [];
  const waiters = new Set<() => void>();
  let gate: Promise<void> = Promise.resolve();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", async () => {
        await gate;
        const raw = Buffer.concat(chunks).toString("utf8");
        const { headers, text } = parseMail(raw);
        const from = session.envelope.mailFrom;
        messages.push({
          from: from === false ? "" : from.address,
          to: session.envelope.rcptTo.map((r) => r.address),
          raw,
          subject: decodeWords(headers.get("subject") ?? ""),
          text,
        });
        for (const w of waiters) w();
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  server.on("error", () => undefined);
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    url: `smtp://127.0.0.1:${port}`,
    messages,
    waitFor(count, timeoutMs = 5_000) {
      if (messages.length >= count) return Promise.resolve(messages.slice());
      return new Promise((resolve, reject) => {
        const check = () => {
          if (messages.length < count) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(messages.slice());
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`expected ${count} mail(s) within ${timeoutMs} ms, got ${messages.length}`));
        }, timeoutMs);
        waiters.add(check);
      });
    },
    hold() {
      let release!: () => void;
      gate = new Promise<void>((r) => (release = r));
      return () => {
        release();
        gate = Promise.resolve();
      };
    },
    async settle(from, ms = 400) {
      await new Promise((r) => setTimeout(r, ms));
      return messages.slice(from);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
