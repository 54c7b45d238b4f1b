/** The pino logger: JSON lines with secrets redacted (SPEC §10), and the audit-event helper. */
import pino, { type Logger } from "pino";

export type { Logger };

/** Paths redacted wherever they appear in a log line: credentials must never reach the logs. */
export const REDACT_PATHS = [
  "authorization",
  "cookie",
  "password",
  "secret",
  "set-cookie",
  "*.authorization",
  "*.cookie",
  "*.password",
  "*.secret",
  "*.set-cookie",
  "*.headers.authorization",
  "*.headers.cookie",
  "*.headers[\"set-cookie\"]",
  "*.headers[\"proxy-authorization\"]",
  "*.bindPassword",
  "*.keyStorePassword",
  "*.trustStorePassword",
];

export interface LoggerOptions {
  level?: string;
  /** Where lines go; defaults to stdout. Tests pass a stream to read them. */
  destination?: pino.DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? "info",
      base: { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? pino.destination({ sync: false }),
  );
}

/** Audit events are log lines with `audit: true` and a stable `event` name (SPEC §10). */
export function audit(log: Logger, event: string, fields: Record<string, unknown> = {}): void {
  log.info({ audit: true, event, ...fields }, event);
}
