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

const destinations = new WeakMap<Logger, pino.DestinationStream>();

let lastMs = 0;
let lastIso = "";
/** ISO timestamps, formatted once per millisecond: at full load many lines share one. */
function isoTime(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastIso = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastIso;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? pino.destination({ sync: false });
  const common = {
    level: options.level ?? "info",
    base: { pid: process.pid },
    timestamp: isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  const log = pino({ ...common, redact: { paths: REDACT_PATHS, censor: "[redacted]" } }, destination);
  destinations.set(log, destination);
  return log;
}

export interface RequestLine {
  requestId: string;
  method: string;
  path: string;
  route: string;
  status: number;
  ms: number;
  ip: string;
  listener: string;
  aborted: boolean;
}

export interface AccessLog {
  request(line: RequestLine): void;
  /** Writes what is buffered (on shutdown). */
  flush(): void;
}

/** Lines are handed to the destination in batches of about this many characters… */
const BATCH_CHARS = 16_384;
/** …or after this long, whichever comes first. */
const BATCH_MS = 200;

/**
 * One line per request, written beside `log`'s lines in the same JSON shape. It is formatted by hand
 * and handed over in batches: through pino with redaction it cost a quarter of the gateway's busy time
 * at full load, and line-by-line writes another tenth (the profile, README "Benchmark"). Its fields are
 * chosen by the gateway (never headers, queries or bodies), so there is nothing to redact; the path is
 * the only client-controlled text and goes through JSON.stringify.
 */
export function accessLogFor(log: Logger): AccessLog {
  const destination = destinations.get(log);
  const pid = process.pid;
  let buffer = "";
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    if (buffer === "" || !destination) return;
    const out = buffer;
    buffer = "";
    destination.write(out);
  };
  return {
    flush,
    request(l) {
      if (!log.isLevelEnabled("info")) return;
      if (!destination) {
        log.info({ ...l, aborted: l.aborted || undefined }, "request");
        return;
      }
      buffer +=
        `{"level":"info"${isoTime()},"pid":${pid},"requestId":"${l.requestId}","method":${JSON.stringify(l.method)},"path":${JSON.stringify(l.path)},` +
        `"route":"${l.route}","status":${l.status},"ms":${l.ms},"ip":"${l.ip}","listener":"${l.listener}"${l.aborted ? ',"aborted":true' : ""},"msg":"request"}\n`;
      if (buffer.length >= BATCH_CHARS) flush();
      else if (timer === undefined) {
        timer = setTimeout(flush, BATCH_MS);
        timer.unref();
      }
    },
  };
}

/**
 * Audit events are log lines with `audit: true` and a stable `event` name (SPEC §10). The fields
 * come first, so that none of them (a relayed one, say) can take those two away.
 */
export function audit(log: Logger, event: string, fields: Record<string, unknown> = {}): void {
  log.info({ ...fields, audit: true, event }, event);
}

/**
 * The command line's audit log: JSON lines on standard error (standard output carries what the
 * command prints), written synchronously so that none is lost when the command exits.
 */
export function createCliAuditLogger(): Logger {
  return createLogger({ level: "info", destination: pino.destination({ dest: 2, sync: true }) });
}
