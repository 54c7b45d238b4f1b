/**
 * Stand-ins for broken directories and a look at this process' own TCP sockets, for the LDAP client
 * tests: a server that accepts and never answers, and counts of sockets held open towards a port.
 */
import fs from "node:fs";
import net from "node:net";

export interface SilentServer {
  port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  close(): Promise<void>;
}

/** A TCP server on 127.0.0.1 that accepts every connection and never sends a byte. */
export function startSilentServer(): Promise<SilentServer> {
  return startTcpServer(() => undefined);
}

/** A TCP server on 127.0.0.1 that counts and tracks its connections and hands each to `onSocket`. */
function startTcpServer(onSocket: (socket: net.Socket) => void): Promise<SilentServer> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
    onSocket(socket);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      resolve({
        port,
        get accepted() {
          return accepted;
        },
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/** The inodes of the sockets this process holds a descriptor for. */
function ownSocketInodes(): Set<string> {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync("/proc/self/fd")) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/self/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      /* the descriptor closed while listing */
    }
  }
  return inodes;
}

export interface OwnSocket {
  /** The kernel's TCP state as in /proc/net/tcp: "01" ESTABLISHED, "08" CLOSE_WAIT, ... */
  state: string;
  localPort: number;
}

/**
 * TCP sockets this process still holds a descriptor for whose remote port is `port` (IPv4 and IPv6),
 * read from /proc/net/tcp{,6} and /proc/self/fd. A socket fully closed by this process is not listed,
 * whatever its TIME_WAIT afterlife.
 */
export function ownSocketsTo(port: number): OwnSocket[] {
  const mine = ownSocketInodes();
  const found: OwnSocket[] = [];
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const [local, remote, state, inode] = [f[1]!, f[2]!, f[3]!, f[9]!];
      const remotePort = parseInt(remote.split(":")[1] ?? "", 16);
      if (remotePort !== port || !mine.has(inode)) continue;
      found.push({ state, localPort: parseInt(local.split(":")[1] ?? "", 16) });
    }
  }
  return found;
}

/** Polls `ownSocketsTo(port)` until `ok` holds for it or `timeoutMs` passes; returns the last reading. */
export async function waitForOwnSockets(port: number, ok: (sockets: OwnSocket[]) => boolean, timeoutMs = 2000): Promise<OwnSocket[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const sockets = ownSocketsTo(port);
    if (ok(sockets) || Date.now() >= deadline) return sockets;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Reads a BER length at `at`; returns the length and where the content starts. */
function berLength(data: Buffer, at: number): { length: number; start: number } {
  const first = data[at] ?? 0;
  if (first < 0x80) return { length: first, start: at + 1 };
  const n = first & 0x7f;
  let length = 0;
  for (let i = 0; i < n; i++) length = length * 256 + (data[at + 1 + i] ?? 0);
  return { length, start: at + 1 + n };
}

const STARTTLS_OID = "1.3.6.1.4.1.1466.20037";

/**
 * A fake directory on 127.0.0.1 that answers the first request (the StartTLS extended operation)
 * with success and then never sends another byte: the TLS handshake that should follow stalls.
 */
export function startStartTlsStallServer(): Promise<SilentServer> {
  return startTcpServer((socket) => {
    socket.once("data", (data) => {
      // LDAPMessage ::= SEQUENCE { messageID INTEGER, protocolOp ... }
      const outer = berLength(data, 1);
      const idLength = berLength(data, outer.start + 1);
      const id = data.subarray(idLength.start, idLength.start + idLength.length);
      const oid = Buffer.from(STARTTLS_OID);
      // ExtendedResponse [APPLICATION 24]: resultCode success, matchedDN "", diagnosticMessage "", responseName [10].
      const ext = Buffer.concat([Buffer.from([0x0a, 1, 0, 0x04, 0, 0x04, 0, 0x8a, oid.length]), oid]);
      const body = Buffer.concat([Buffer.from([0x02, id.length]), id, Buffer.from([0x78, ext.length]), ext]);
      socket.write(Buffer.concat([Buffer.from([0x30, body.length]), body]));
    });
  });
}
