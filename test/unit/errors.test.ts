/** The error table: one status and one public message per code, taken by every GatewayError. */
import assert from "node:assert/strict";
import http from "node:http";
import { describe, it } from "node:test";
import { ERRORS, GatewayError, type ErrorCode } from "../../src/errors.js";

describe("the error table", () => {
  it("gives every code an HTTP status Node knows and a public message ending in a full stop", () => {
    for (const [code, { status, message }] of Object.entries(ERRORS)) {
      assert.ok(http.STATUS_CODES[status] !== undefined && status >= 400, `${code}: ${status}`);
      assert.match(message, /^[A-Za-z].*\S$/, code);
    }
  });

  it("makes a GatewayError's status the table's, with the table's message unless a more specific one is given", () => {
    const plain = new GatewayError("ERR_BODY_TOO_LARGE");
    assert.deepEqual([plain.code, plain.status, plain.publicMessage, plain.message], ["ERR_BODY_TOO_LARGE", 413, "The request body is too large.", "The request body is too large."]);
    const specific = new GatewayError("ERR_NOT_FOUND", { message: "No such user.", detail: "user bob is not in the store" });
    assert.deepEqual([specific.status, specific.publicMessage, specific.message], [404, "No such user.", "user bob is not in the store"]);
  });

  it("keeps a cause for the log without showing it to the client", () => {
    const cause = new Error("ECONNREFUSED 127.0.0.1:6379");
    const err = new GatewayError("ERR_STORE_UNAVAILABLE", { cause });
    assert.equal(err.cause, cause);
    assert.equal(err.status, 503);
    assert.doesNotMatch(err.publicMessage, /ECONNREFUSED/);
  });

  it("uses one status per code across the gateway's refusals (413 and 415 have codes of their own)", () => {
    const statuses = (codes: ErrorCode[]) => codes.map((c) => ERRORS[c].status);
    assert.deepEqual(statuses(["ERR_BAD_REQUEST", "ERR_BODY_TOO_LARGE", "ERR_UNSUPPORTED_MEDIA_TYPE", "ERR_HEADERS_TOO_LARGE", "ERR_REQUEST_TIMEOUT"]), [400, 413, 415, 431, 408]);
    assert.deepEqual(statuses(["ERR_INSECURE_REJECTED", "ERR_CREDENTIAL_EXPOSED", "ERR_TLS_REQUIRED", "ERR_CSRF", "ERR_FORBIDDEN"]), [403, 403, 403, 403, 403]);
  });
});
