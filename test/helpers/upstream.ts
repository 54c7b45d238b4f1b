/**
 * A scriptable upstream for tests: records what it received and answers as each test tells it,
 * including slow answers, resets mid-response and a WebSocket echo.
 */
import { createHash } from "node:crypto";
import http from "node:http";
import type net from "node:net";

export interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export type Behaviour = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;

export interface TestUpstream {
  url: string;
  port: number;
  received: Received[];
  /** Replaces how requests are answered (default: 200 JSON echo of what arrived). */
  behave(b: Behaviour): void;
  /** Open sockets the upstream sees, for leak checks. */
  openSockets(): number;
  close(): Promise<void>;
}

export const echo: Behaviour = (req, res, body) => {
  res.writeHead(200, { "content-type": "application/json", "x-upstream": "yes" });
  res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }));
};

/** Minimal RFC 6455 server side: accept the handshake, echo text frames back unmasked. */
function acceptWebSocket(req: http.IncomingMessage, socket: net.Socket, received: Received[]): void {
  received.push({ method: "UPGRADE", url: req.url ?? "", headers: req.headers, body: "" });
  const key = req.headers["sec-websocket-key"];
  if (typeof key !== "string") {
    socket.destroy();
    return;
  }
  const accept = createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  let buffer = Buffer.alloc(0);
  socket.on("data", (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    while (buffer.length >= 2) {
      const opcode = buffer[0]! & 0x0f;
      let len = buffer[1]! & 0x7f;
      let offset = 2;
      if (len === 126) {
        len = buffer.readUInt16BE(2);
        offset = 4;
      }
      const masked = (buffer[1]! & 0x80) !== 0;
      const need = offset + (masked ? 4 : 0) + len;
      if (buffer.length < need) return;
      const mask = masked ? buffer.subarray(offset, offset + 4) : null;
      const payload = Buffer.from(buffer.subarray(offset + (masked ? 4 : 0), need));
      if (mask) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ mask[i % 4]!;
      buffer = buffer.subarray(need);
      if (opcode === 0x8) {
        socket.end(Buffer.from([0x88, 0x00]));
        return;
      }
      if (opcode === 0x1) {
        const header = payload.length < 126 ? Buffer.from([0x81, payload.length]) : Buffer.from([0x81, 126, payload.length >> 8, payload.length & 0xff]);
        socket.write(Buffer.concat([header, payload]));
      }
    }
  });
  socket.on("error", () => undefined);
}

export function startTestUpstream(): Promise<TestUpstream> {
  const received: Received[] = [];
  let behaviour: Behaviour = echo;
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      received.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      behaviour(req, res, body);
    });
  });
  server.on("connection", (s: net.Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.on("upgrade", (req, socket: net.Socket) => acceptWebSocket(req, socket, received));
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port;
      resolve({
        url: `http://127.0.0.1:${port}`,
        port,
        received,
        behave: (b) => (behaviour = b),
        openSockets: () => sockets.size,
        close: () =>
          new Promise((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}
