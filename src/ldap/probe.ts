/**
 * Looks at the TLS side of a server without trusting it: connects (directly, or with StartTLS on an
 * ldap:// port), completes the handshake with verification reported rather than enforced, and returns
 * the presented chain and Node's verdict against the given trust. Used by `ldap test` to explain a
 * refused certificate and by `certs trust` to fetch the CA to add. Nothing is ever sent over such a
 * connection: it is closed right after the handshake.
 */
import { X509Certificate } from "node:crypto";
import net from "node:net";
import tls from "node:tls";
import { Client } from "ldapts";

export interface ProbeTarget {
  host: string;
  port: number;
  startTls: boolean;
  timeoutMs: number;
}

export interface ProbeResult {
  /** As presented, leaf first. */
  chain: X509Certificate[];
  /** Whether the chain and host name pass verification against the given trust. */
  authorized: boolean;
  /** Node's reason when not authorized (`SELF_SIGNED_CERT_IN_CHAIN`, `ERR_TLS_CERT_ALTNAME_INVALID`, …). */
  verifyError?: string;
  protocol: string | null;
}

function presentedChain(socket: tls.TLSSocket): X509Certificate[] {
  const chain: X509Certificate[] = [];
  const seen = new Set<string>();
  let cert = socket.getPeerCertificate(true) as tls.DetailedPeerCertificate | undefined;
  while (cert?.raw && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    chain.push(new X509Certificate(cert.raw));
    cert = cert.issuerCertificate;
  }
  return chain;
}

/**
 * Completes a handshake with `options` (trust, client certificate, servername) but without rejecting,
 * so the verdict can be reported. Rejects on connection errors (refused, timeout, handshake alert).
 */
export async function probeTls(target: ProbeTarget, options: tls.ConnectionOptions): Promise<ProbeResult> {
  const probeOptions: tls.ConnectionOptions = { ...options, rejectUnauthorized: false };
  if (!net.isIP(target.host)) probeOptions.servername ??= target.host;
  let socket: tls.TLSSocket;
  if (target.startTls) {
    let captured: tls.TLSSocket | undefined;
    const client = new Client({
      url: `ldap://${net.isIPv6(target.host) ? `[${target.host}]` : target.host}:${target.port}`,
      connectTimeout: target.timeoutMs,
      timeout: target.timeoutMs,
      createSecureConnection: ((o: tls.ConnectionOptions) => (captured = tls.connect(o))) as unknown as typeof tls.connect,
    });
    try {
      await client.startTLS({ ...probeOptions, host: target.host });
    } catch (err) {
      captured?.destroy();
      await client.unbind().catch(() => undefined);
      throw err;
    }
    socket = captured!;
  } else {
    socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ ...probeOptions, host: target.host, port: target.port });
      const timer = setTimeout(() => {
        s.destroy();
        reject(Object.assign(new Error("Connection timeout"), { code: "ETIMEDOUT" }));
      }, target.timeoutMs);
      s.once("secureConnect", () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }
  const result: ProbeResult = { chain: presentedChain(socket), authorized: socket.authorized, protocol: socket.getProtocol() };
  if (!socket.authorized) result.verifyError = String(socket.authorizationError);
  socket.destroy();
  return result;
}

/**
 * The certificate to add to a truststore so that this chain verifies: the top of the presented chain
 * when it is a CA (or a self-signed leaf); null when the server sent only a leaf signed by someone else.
 */
export function anchorOf(chain: readonly X509Certificate[]): X509Certificate | null {
  const top = chain[chain.length - 1];
  if (!top) return null;
  if (chain.length > 1 && top.ca) return top;
  if (top.checkIssued(top)) return top;
  return null;
}
