/**
 * What went wrong talking to the directory, in words an admin can act on. One classifier serves the
 * login path (which logs it) and `portcullis ldap test` (which prints it).
 */
import { InvalidCredentialsError, ResultCodeError } from "ldapts";

export type ProblemKind =
  | "refused"
  | "timeout"
  | "untrusted"
  | "expired"
  | "name-mismatch"
  | "tls-handshake"
  | "bad-credentials"
  | "connection-lost"
  | "directory-error";

export interface LdapProblem {
  kind: ProblemKind;
  /** One sentence for the log or the terminal. */
  message: string;
  /** Node's or the directory's own code, for the log. */
  code?: string | number;
}

const UNTRUSTED = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_UNTRUSTED",
  "CERT_SIGNATURE_FAILURE",
]);

/** Problems that mean the directory (or the way to it) is not usable now, as opposed to a refused bind. */
export function isUnavailable(problem: LdapProblem): boolean {
  return problem.kind !== "bad-credentials";
}

export function classifyLdapError(err: unknown, where: string): LdapProblem {
  const e = err as NodeJS.ErrnoException & { code?: string | number };
  const code = e?.code;
  const text = e instanceof Error ? e.message : String(err);
  if (err instanceof InvalidCredentialsError) return { kind: "bad-credentials", message: `${where} refused the credentials (invalid credentials)`, code: 49 };
  if (err instanceof ResultCodeError) return { kind: "directory-error", message: `${where} answered with an error: ${text}`, code: err.code };
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    return { kind: "name-mismatch", message: `${where}: the certificate is not for this host name (${text}); use the name in its subjectAltName in ldap.url, or have the certificate reissued`, code };
  }
  if (typeof code === "string" && UNTRUSTED.has(code)) {
    return { kind: "untrusted", message: `${where}: the certificate is not signed by a CA in the truststore (${code}); run "portcullis certs trust HOST:PORT" or add the CA to security.trustStore`, code };
  }
  if (code === "CERT_HAS_EXPIRED" || code === "CERT_NOT_YET_VALID") {
    return { kind: "expired", message: `${where}: the certificate is outside its validity period (${code}); the directory needs a current certificate`, code };
  }
  if (code === "ECONNREFUSED") return { kind: "refused", message: `${where}: connection refused; is the directory running and listening on that port?`, code };
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return { kind: "refused", message: `${where}: the host name does not resolve (${code})`, code };
  if (code === "EHOSTUNREACH" || code === "ENETUNREACH") return { kind: "refused", message: `${where}: no route to the host (${code}); check the network and firewall`, code };
  if (code === "ETIMEDOUT" || /timed? ?out/i.test(text)) {
    return { kind: "timeout", message: `${where}: no answer in time; check ldap.url, the firewall, or raise ldap.connectTimeout / ldap.timeout`, code: code ?? "TIMEOUT" };
  }
  if ((typeof code === "string" && code.startsWith("ERR_SSL")) || /SSL|TLS|handshake|alert/i.test(text)) {
    return { kind: "tls-handshake", message: `${where}: the TLS handshake failed (${text}); if the directory demands a client certificate, set security.keyStore`, code };
  }
  if (code === "ECONNRESET" || code === "EPIPE" || /closed|socket/i.test(text)) {
    return { kind: "connection-lost", message: `${where}: the connection was closed (${text})`, code };
  }
  return { kind: "directory-error", message: `${where}: ${text}`, code };
}
