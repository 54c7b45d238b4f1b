import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InsufficientAccessError, InvalidCredentialsError, NoSuchObjectError, UnwillingToPerformError } from "ldapts";
import { classifyLdapError, isUnavailable, type LdapProblem, type ProblemKind } from "../../src/ldap/problems.js";

/** An error the way Node's net/tls layers and ldapts produce them: a message and a string code. */
function nodeError(message: string, code?: string): Error {
  return code === undefined ? new Error(message) : Object.assign(new Error(message), { code });
}

const SSL_ALERT =
  "C0C7A4B8F27F0000:error:0A000412:SSL routines:ssl3_read_bytes:sslv3 alert bad certificate:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1605:SSL alert number 42\n";

/** Each error with the kind it must be classified as. */
const CASES: [string, () => unknown, ProblemKind][] = [
  ["ECONNREFUSED", () => nodeError("connect ECONNREFUSED 127.0.0.1:636", "ECONNREFUSED"), "refused"],
  ["ENOTFOUND", () => nodeError("getaddrinfo ENOTFOUND ldap.invalid", "ENOTFOUND"), "refused"],
  ["EAI_AGAIN", () => nodeError("getaddrinfo EAI_AGAIN ldap.example.org", "EAI_AGAIN"), "refused"],
  ["EHOSTUNREACH", () => nodeError("connect EHOSTUNREACH 10.0.0.1:636", "EHOSTUNREACH"), "refused"],
  [
    "ERR_TLS_CERT_ALTNAME_INVALID",
    () => nodeError("Hostname/IP does not match certificate's altnames: IP: 127.0.0.2 is not in the cert's list: 127.0.0.1", "ERR_TLS_CERT_ALTNAME_INVALID"),
    "name-mismatch",
  ],
  ["SELF_SIGNED_CERT_IN_CHAIN", () => nodeError("self-signed certificate in certificate chain", "SELF_SIGNED_CERT_IN_CHAIN"), "untrusted"],
  ["UNABLE_TO_VERIFY_LEAF_SIGNATURE", () => nodeError("unable to verify the first certificate", "UNABLE_TO_VERIFY_LEAF_SIGNATURE"), "untrusted"],
  ["DEPTH_ZERO_SELF_SIGNED_CERT", () => nodeError("self-signed certificate", "DEPTH_ZERO_SELF_SIGNED_CERT"), "untrusted"],
  ["UNABLE_TO_GET_ISSUER_CERT_LOCALLY", () => nodeError("unable to get local issuer certificate", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY"), "untrusted"],
  ["CERT_HAS_EXPIRED", () => nodeError("certificate has expired", "CERT_HAS_EXPIRED"), "expired"],
  ["CERT_NOT_YET_VALID", () => nodeError("certificate is not yet valid", "CERT_NOT_YET_VALID"), "expired"],
  ['ldapts "Connection timeout"', () => nodeError("Connection timeout"), "timeout"],
  ['ldapts "Operation timed out"', () => nodeError("BindRequest: Operation timed out"), "timeout"],
  ["ETIMEDOUT", () => nodeError("connect ETIMEDOUT 10.0.0.1:636", "ETIMEDOUT"), "timeout"],
  ["an OpenSSL alert with its ERR_SSL code", () => nodeError(SSL_ALERT, "ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE"), "tls-handshake"],
  ["an OpenSSL alert message without a code", () => nodeError(SSL_ALERT), "tls-handshake"],
  [
    "a socket closed during the TLS handshake",
    () => nodeError("Client network socket disconnected before secure TLS connection was established", "ECONNRESET"),
    "tls-handshake",
  ],
  [
    'ldapts "Connection closed before message response was received"',
    () => nodeError("Connection closed before message response was received. Message type: BindRequest (0x60)"),
    "connection-lost",
  ],
  ["ECONNRESET", () => nodeError("read ECONNRESET", "ECONNRESET"), "connection-lost"],
  ["EPIPE", () => nodeError("write EPIPE", "EPIPE"), "connection-lost"],
  ["InvalidCredentialsError", () => new InvalidCredentialsError(), "bad-credentials"],
  ["NoSuchObjectError", () => new NoSuchObjectError("No Such Object"), "directory-error"],
  ["InsufficientAccessError", () => new InsufficientAccessError(), "directory-error"],
  ["UnwillingToPerformError", () => new UnwillingToPerformError("unauthenticated bind (DN with no password) disallowed"), "directory-error"],
  ["an unknown error", () => nodeError("something odd happened"), "directory-error"],
  ["a thrown string", () => "boom", "directory-error"],
];

describe("classifyLdapError", () => {
  for (const [name, make, kind] of CASES) {
    it(`classifies ${name} as ${kind}`, () => {
      const problem = classifyLdapError(make(), "user search");
      assert.equal(problem.kind, kind, problem.message);
      assert.ok(problem.message.startsWith("user search"), `the message names where it happened: ${problem.message}`);
    });
  }

  it("keeps Node's error code for the log", () => {
    assert.equal(classifyLdapError(nodeError("connect ECONNREFUSED 127.0.0.1:636", "ECONNREFUSED"), "x").code, "ECONNREFUSED");
    assert.equal(classifyLdapError(nodeError("certificate has expired", "CERT_HAS_EXPIRED"), "x").code, "CERT_HAS_EXPIRED");
    assert.equal(classifyLdapError(nodeError("Connection timeout"), "x").code, "TIMEOUT");
  });

  it("reports the LDAP result code of a directory error (49 for invalid credentials, 32 for no such object)", () => {
    assert.equal(classifyLdapError(new InvalidCredentialsError(), "user bind").code, 49);
    assert.equal(classifyLdapError(new NoSuchObjectError(), "user search").code, 32);
  });

  for (const code of ["SELF_SIGNED_CERT_IN_CHAIN", "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "DEPTH_ZERO_SELF_SIGNED_CERT"]) {
    it(`tells the admin to run "portcullis certs trust" for ${code}`, () => {
      const problem = classifyLdapError(nodeError("untrusted", code), "service connection");
      assert.equal(problem.kind, "untrusted");
      assert.match(problem.message, /certs trust/);
      assert.match(problem.message, /security\.trustStore/);
      assert.ok(problem.message.includes(code), problem.message);
    });
  }

  it("names the host name rule and ldap.url for a name mismatch", () => {
    const problem = classifyLdapError(nodeError("Hostname/IP does not match certificate's altnames", "ERR_TLS_CERT_ALTNAME_INVALID"), "service connection");
    assert.match(problem.message, /subjectAltName/);
    assert.match(problem.message, /ldap\.url/);
  });

  it("suggests security.keyStore when the TLS handshake fails", () => {
    assert.match(classifyLdapError(nodeError(SSL_ALERT), "service connection").message, /security\.keyStore/);
  });

  it("names the timeout settings for a timeout", () => {
    assert.match(classifyLdapError(nodeError("Connection timeout"), "service connection").message, /ldap\.connectTimeout|ldap\.timeout/);
  });

  it("includes the directory's own message in a directory error", () => {
    assert.match(classifyLdapError(new NoSuchObjectError("no such base ou=people"), "user search").message, /no such base ou=people/);
  });
});

describe("isUnavailable", () => {
  it("is false only for refused credentials", () => {
    const problem = classifyLdapError(new InvalidCredentialsError(), "user bind");
    assert.equal(isUnavailable(problem), false);
  });

  for (const [name, make, kind] of CASES.filter(([, , k]) => k !== "bad-credentials")) {
    it(`is true for ${name} (${kind})`, () => {
      assert.equal(isUnavailable(classifyLdapError(make(), "x")), true);
    });
  }

  it("is true for every kind other than bad-credentials", () => {
    const kinds: ProblemKind[] = ["refused", "timeout", "untrusted", "expired", "name-mismatch", "tls-handshake", "connection-lost", "directory-error"];
    for (const kind of kinds) assert.equal(isUnavailable({ kind, message: "m" } satisfies LdapProblem), true, kind);
    assert.equal(isUnavailable({ kind: "bad-credentials", message: "m" }), false);
  });
});
