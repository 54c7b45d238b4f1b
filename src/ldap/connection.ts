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
  client: Client;
  /**
   * False once any socket of the connection closed. ldapts' own `isConnected` stays true after a
   * StartTLS connection dies (it watches the plain socket it no longer uses), so this is tracked here.
   */
  readonly alive: boolean;
  close(): Promise<void>;
}

/**
 * Opens a connection (TLS verified; StartTLS done) and returns it. On failure the socket is closed and
 * the error thrown; the caller classifies it.
 */
export async function openLdap(endpoint: LdapEndpoint): Promise<LdapConnection> {
  const { host, port } = endpointHostPort(endpoint);
  const tlsOptions = ldapTlsOptions(endpoint.tls, host);
  const url = `${endpoint.url.protocol}//${net.isIPv6(host) ? `[${host}]` : host}:${port}`;
  let alive = true;
  const made = new Set<string>();
  // Each factory hands out one socket per client: a later call is ldapts reconnecting, which is refused.
  const once = (kind: string, make: () => net.Socket): net.Socket => {
    if (made.has(kind) || !alive) {
      const refused = new net.Socket();
      process.nextTick(() => refused.destroy(Object.assign(new Error("LDAP connection lost; a fresh connection is opened instead of reconnecting"), { code: "ECONNRESET" })));
      return refused;
    }
    made.add(kind);
    const socket = make();
    socket.once("close", () => {
      alive = false;
    });
    return socket;
  };
  const client = new Client({
    url,
    timeout: endpoint.timeoutMs,
    connectTimeout: endpoint.connectTimeoutMs,
    // ldapts treats any tlsOptions as "connect with TLS at once"; a StartTLS client gets them at the upgrade.
    tlsOptions: endpoint.startTls ? undefined : tlsOptions,
    createConnection: ((p: number, h: string) => once("plain", () => net.connect(p, h))) as unknown as typeof net.connect,
    createSecureConnection: ((...args: unknown[]) => once("tls", () => (tls.connect as (...a: unknown[]) => tls.TLSSocket)(...args))) as unknown as typeof tls.connect,
  });
  const connection: LdapConnection = {
    client,
    get alive() {
      return alive;
    },
    close: () => closeQuietly(client),
  };
  try {
    // The upgrade reuses the same options; the plain socket is wrapped, not replaced.
    if (endpoint.startTls) await client.startTLS({ ...tlsOptions });
    return connection;
  } catch (err) {
    await connection.close();
    throw err;
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
