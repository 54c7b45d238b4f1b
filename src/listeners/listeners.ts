/**
 * The secure (TLS) and insecure (plaintext) listeners, started and stopped together, with the HTTP
 * limits that guard against malformed, oversized and slow requests.
 */
import { ERRORS, type ErrorCode } from "../errors.js";
import http from "node:http";
import https from "node:https";
import type net from "node:net";
import type tls from "node:tls";
import { systemClock, type Clock } from "../clock.js";
import type { Logger } from "../log/logger.js";
import type { ListenerKind } from "../pipeline/scope.js";

export interface ListenerLimits {
  maxHeaderSize: number;
  headersTimeout: number;
  requestTimeout: number;
  keepAliveTimeout: number;
}

export interface ListenerOptions {
  host: string;
  securePort: number;
  insecurePort: number;
  tls: tls.SecureContextOptions;
  limits: ListenerLimits;
  log: Logger;
  /** Tells how long a connection has been open (shutdown); defaults to the system clock. */
  clock?: Clock;
  onRequest(kind: ListenerKind, req: http.IncomingMessage, res: http.ServerResponse): void;
  onUpgrade(kind: ListenerKind, req: http.IncomingMessage, socket: net.Socket, head: Buffer): void;
}

export interface Listeners {
  readonly secure: https.Server;
  readonly insecure: http.Server;
  port(kind: ListenerKind): number;
  /** Replaces the certificate for new connections; open ones keep the one they negotiated. */
  setSecureContext(options: tls.SecureContextOptions): void;
  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then closes what is left. */
  close(graceMs: number): Promise<void>;
}

/** Parser errors Node reports before a request reaches us, and the error (status, text) each deserves. */
function clientErrorAnswer(code: string | undefined): [number, string] {
  const answer = (error: ErrorCode, text: string = ERRORS[error].message): [number, string] => [ERRORS[error].status, text];
  switch (code) {
    case "HPE_HEADER_OVERFLOW":
      return answer("ERR_HEADERS_TOO_LARGE");
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return answer("ERR_REQUEST_TIMEOUT");
    case "HPE_UNEXPECTED_CONTENT_LENGTH":
      return answer("ERR_MALFORMED_REQUEST", "Content-Length together with Transfer-Encoding, or given twice, is refused.");
    case "HPE_INVALID_TRANSFER_ENCODING":
      return answer("ERR_MALFORMED_REQUEST", "Invalid Transfer-Encoding.");
    default:
      return answer("ERR_MALFORMED_REQUEST");
  }
}

function onClientError(kind: ListenerKind, log: Logger) {
  return (err: NodeJS.ErrnoException, socket: net.Socket) => {
    if (err.code === "ECONNRESET" || !socket.writable) {
      socket.destroy();
      return;
    }
    const [status, reason] = clientErrorAnswer(err.code);
    log.info({ listener: kind, status, code: err.code }, "refused malformed request");
    const body = `${reason}\n`;
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: text/plain; charset=utf-8\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  };
}

function listen(server: net.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
}

/** How long a connection may stay silent at shutdown before it is taken for an unused preconnect. */
const SILENT_MS = 1_000;

export async function startListeners(options: ListenerOptions): Promise<Listeners> {
  const { limits, log } = options;
  const clock = options.clock ?? systemClock;
  const serverOptions: http.ServerOptions = {
    maxHeaderSize: limits.maxHeaderSize,
    headersTimeout: limits.headersTimeout,
    requestTimeout: limits.requestTimeout,
    keepAliveTimeout: limits.keepAliveTimeout,
    // How often Node checks for slow headers; the default (30 s) would let slow clients linger.
    connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(limits.headersTimeout / 4))),
    requireHostHeader: true,
  };
  // A TLS handshake gets the same time as a request's headers (SPEC §5): Node's default handshakeTimeout
  // (120 s) would let a client that sends nothing, or half a ClientHello, hold a connection that long.
  // Once the handshake is done, Node's own headersTimeout check covers the silence that may follow: it
  // counts a new connection as waiting for headers from the moment it is accepted, on both listeners.
  const secure = https.createServer({ ...serverOptions, handshakeTimeout: limits.headersTimeout, ...options.tls });
  const insecure = http.createServer(serverOptions);
  const pairs: [ListenerKind, http.Server][] = [
    ["secure", secure],
    ["insecure", insecure],
  ];
  // Upgraded (WebSocket) sockets leave Node's HTTP bookkeeping, so closeAllConnections() misses them.
  const upgraded = new Set<net.Socket>();
  // Every open connection and when it opened, for the shutdown: Node counts a connection that has not
  // sent a request yet (a browser's preconnect) as busy, not idle, so it held the whole grace period.
  const open = new Map<net.Socket, number>();
  const track = (socket: net.Socket) => {
    open.set(socket, clock.now());
    socket.once("close", () => open.delete(socket));
  };
  insecure.on("connection", track);
  secure.on("secureConnection", track);
  for (const [kind, server] of pairs) {
    server.on("request", (req, res) => options.onRequest(kind, req, res));
    server.on("upgrade", (req, socket: net.Socket, head) => {
      upgraded.add(socket);
      socket.once("close", () => upgraded.delete(socket));
      options.onUpgrade(kind, req, socket, head);
    });
    server.on("clientError", onClientError(kind, log));
  }
  secure.on("tlsClientError", (err: NodeJS.ErrnoException, socket) => {
    log.debug({ code: err.code, reason: err.message }, "TLS handshake failed");
    socket.destroy();
  });

  try {
    await listen(secure, options.securePort, options.host);
    await listen(insecure, options.insecurePort, options.host);
  } catch (err) {
    secure.close();
    insecure.close();
    const e = err as NodeJS.ErrnoException;
    if (e.code === "EADDRINUSE") e.message = `port ${(e as { port?: number }).port} is already in use (ports.secure/ports.insecure/ports.prefix)`;
    if (e.code === "EACCES") e.message = `not allowed to listen on port ${(e as { port?: number }).port}; use a port above 1023 or grant the capability`;
    throw e;
  }

  const countConnections = () =>
    Promise.all(pairs.map(([, s]) => new Promise<number>((resolve) => s.getConnections((err, n) => resolve(err ? 0 : n))))).then((ns) => ns.reduce((a, b) => a + b, 0));
  const portOf = (server: net.Server) => (server.address() as net.AddressInfo).port;
  const ports = { secure: portOf(secure), insecure: portOf(insecure) };

  return {
    secure,
    insecure,
    port: (kind) => ports[kind],
    setSecureContext: (tlsOptions) => secure.setSecureContext(tlsOptions),
    async close(graceMs) {
      const closed = pairs.map(([, server]) => new Promise<void>((resolve) => server.close(() => resolve())));
      const endWebSockets = () => {
        for (const socket of upgraded) socket.destroy();
      };
      // Keep-alive connections go as soon as they are idle, and so do connections that have been open
      // for SILENT_MS without sending a byte of a request (a TLS socket counts only decrypted bytes):
      // a younger one may have its first request on the way. Busy ones finish their request first.
      // WebSockets have no end of their own: they go once no HTTP request is left in flight.
      const closeIdle = () => {
        pairs.forEach(([, s]) => s.closeIdleConnections());
        const now = clock.now();
        for (const [socket, openedAt] of open) {
          if (socket.bytesRead === 0 && now - openedAt >= SILENT_MS && !upgraded.has(socket)) socket.destroy();
        }
      };
      const sweep = setInterval(() => {
        closeIdle();
        void countConnections().then((n) => {
          if (n > 0 && n <= upgraded.size) endWebSockets();
        });
      }, 50);
      closeIdle();
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          pairs.forEach(([, s]) => s.closeAllConnections());
          endWebSockets();
          resolve();
        }, graceMs);
      });
      await Promise.race([Promise.all(closed), grace]);
      clearInterval(sweep);
      clearTimeout(timer);
      pairs.forEach(([, s]) => s.closeAllConnections());
      endWebSockets();
    },
  };
}
