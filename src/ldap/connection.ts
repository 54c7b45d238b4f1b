/**
 * One LDAP connection: ldaps:// from the first byte, or ldap:// upgraded with StartTLS before anything
 * else is sent. ldapts reconnects a dropped client by itself on the next operation, which for an
 * ldap:// URL would mean a plaintext connection carrying a bind; the factories here hand out exactly
 * one socket per client, so a dropped connection stays dropped and the caller opens a fresh one.
 */
import net from "node:net";
import tls from "node:tls";
import { Client } from "ldapts";
import { ldapTlsOptions, type LdapTlsMaterial } from "./tls.js";

export interface LdapEndpoint {
  url: URL | { protocol: string; hostname: string; port: string };
  startTls: boolean;
  timeoutMs: number;
  connectTimeoutMs: number;
  tls: LdapTlsMaterial;
}

export function endpointHostPort(endpoint: LdapEndpoint): { host: string; port: number } {
  const { hostname, port, protocol } = endpoint.url;
  // URL keeps IPv6 hosts in brackets; sockets want them bare.
  const host = hostname.replace(/^\[(.*)\]$/, "$1");
  return { host, port: port ? Number(port) : protocol === "ldaps:" ? 636 : 389 };
}

/** An open connection and whether its socket still lives. */
export interface LdapConnection {
  /**
   * Runs one operation; it fails as soon as the connection dies instead of waiting for `ldap.timeout`
   * (after StartTLS, ldapts does not notice its socket closing, so this is tracked here).
   */
  run<T>(operation: (client: Client) => Promise<T>): Promise<T>;
  /** False once any socket of the connection closed. */
  readonly alive: boolean;
  close(): Promise<void>;
}

function connectionLost(): Error {
  return Object.assign(new Error("LDAP connection closed by the server"), { code: "ECONNRESET" });
}

/**
 * Opens a connection (TLS verified; StartTLS done within `connectTimeoutMs`) and returns it. On
 * failure the sockets are closed and the error thrown; the caller classifies it.
 */
export async function openLdap(endpoint: LdapEndpoint): Promise<LdapConnection> {
  const { host, port } = endpointHostPort(endpoint);
  const tlsOptions = ldapTlsOptions(endpoint.tls, host);
  const url = `${endpoint.url.protocol}//${net.isIPv6(host) ? `[${host}]` : host}:${port}`;
  let alive = true;
  let onDeath: (err: Error) => void = () => undefined;
  const death = new Promise<never>((_, reject) => (onDeath = reject));
  death.catch(() => undefined);
  const sockets: net.Socket[] = [];
  // Each factory hands out one socket per client: a later call is ldapts reconnecting, which is refused.
  const once = (make: () => net.Socket, kind: "plain" | "tls"): net.Socket => {
    if (sockets.some((s) => (s instanceof tls.TLSSocket) === (kind === "tls")) || !alive) {
      const refused = new net.Socket();
      process.nextTick(() => refused.destroy(Object.assign(new Error("LDAP connection lost; a fresh connection is opened instead of reconnecting"), { code: "ECONNRESET" })));
      return refused;
    }
    const socket = make();
    sockets.push(socket);
    socket.once("close", () => {
      alive = false;
      onDeath(connectionLost());
    });
    return socket;
  };
  const client = new Client({
    url,
    timeout: endpoint.timeoutMs,
    connectTimeout: endpoint.connectTimeoutMs,
    // ldapts treats any tlsOptions as "connect with TLS at once"; a StartTLS client gets them at the upgrade.
    tlsOptions: endpoint.startTls ? undefined : tlsOptions,
    createConnection: ((p: number, h: string) => once(() => net.connect(p, h), "plain")) as unknown as typeof net.connect,
    createSecureConnection: ((...args: unknown[]) => once(() => (tls.connect as (...a: unknown[]) => tls.TLSSocket)(...args), "tls")) as unknown as typeof tls.connect,
  });
  const close = async () => {
    // An unbind on a dead StartTLS connection would wait for ldap.timeout: ldapts does not see it closed.
    if (alive) await closeQuietly(client);
    for (const s of sockets) s.destroy();
  };
  const connection: LdapConnection = {
    run: (operation) => (alive ? Promise.race([operation(client), death]) : Promise.reject(connectionLost())),
    get alive() {
      return alive;
    },
    close,
  };
  if (!endpoint.startTls) return connection;
  // ldapts times the TCP connect but not the StartTLS handshake that follows: a server that stalls
  // there would hold the login (and the shared service connection) forever.
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error("StartTLS handshake timed out"), { code: "ETIMEDOUT" })), endpoint.connectTimeoutMs);
  });
  try {
    // The upgrade reuses the same options; the plain socket is wrapped, not replaced.
    await Promise.race([client.startTLS({ ...tlsOptions }), stalled]);
    return connection;
  } catch (err) {
    await close();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** Unbinds (closing the socket) and ignores errors: the connection is being discarded anyway. */
export async function closeQuietly(client: Client): Promise<void> {
  try {
    await client.unbind();
  } catch {
    /* already closed */
  }
}
