import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hashSecret, newSessionSecret, parseCookieValue } from "../../src/sessions/ids.js";
import { sessionTag } from "../../src/store/store.js";

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** A well-formed cookie value using every character of the base64url alphabet's classes in both parts. */
const TAG = "Az09_-Az09_-";
const SECRET = "Az09_-Az09_-Az09_-Az09_-Az09_-Az09_-Az09_-A";

describe("newSessionSecret", () => {
  it("gives a cookie value of the user's tag, a dot and a 256-bit base64url secret", () => {
    const { cookieValue, credential } = newSessionSecret("alice");
    const [tag, secret, ...rest] = cookieValue.split(".");
    assert.equal(tag, sessionTag("alice"));
    assert.equal(credential.tag, tag);
    assert.match(secret!, BASE64URL);
    assert.equal(Buffer.from(secret!, "base64url").length, 32);
    assert.deepEqual(rest, []);
  });

  it("stores the session under the hash of the secret, never under the secret itself", () => {
    const { cookieValue, credential } = newSessionSecret("alice");
    const secret = cookieValue.split(".")[1]!;
    assert.equal(credential.id, hashSecret(secret));
    assert.notEqual(credential.id, secret);
    assert.equal(cookieValue.includes(credential.id), false);
  });

  it("gives a credential that reading its own cookie value finds again", () => {
    const { cookieValue, credential } = newSessionSecret("bob");
    assert.deepEqual(parseCookieValue(cookieValue), credential);
  });

  it("keeps one user's sessions under one tag and different users' under different tags", () => {
    assert.equal(newSessionSecret("alice").credential.tag, newSessionSecret("alice").credential.tag);
    assert.notEqual(newSessionSecret("alice").credential.tag, newSessionSecret("bob").credential.tag);
  });

  it("draws a fresh secret, store key and CSRF token for every session", () => {
    const a = newSessionSecret("alice");
    const b = newSessionSecret("alice");
    assert.notEqual(a.cookieValue, b.cookieValue);
    assert.notEqual(a.credential.id, b.credential.id);
    assert.notEqual(a.csrfToken, b.csrfToken);
  });

  it("gives a 192-bit base64url CSRF token unrelated to the session secret", () => {
    const { cookieValue, csrfToken } = newSessionSecret("alice");
    assert.match(csrfToken, BASE64URL);
    assert.equal(Buffer.from(csrfToken, "base64url").length, 24);
    assert.equal(cookieValue.includes(csrfToken), false);
  });
});

describe("hashSecret", () => {
  it("is the first 128 bits of SHA-256, in base64url", () => {
    // SHA-256("abc") = ba7816bf 8f01cfea 414140de 5dae2223 b00361a3 … (FIPS 180-2, appendix B.1)
    assert.equal(hashSecret("abc"), Buffer.from("ba7816bf8f01cfea414140de5dae2223", "hex").toString("base64url"));
    assert.equal(hashSecret("abc"), "ungWv48Bz-pBQUDeXa4iIw");
  });

  it("gives 22 characters, whatever the secret", () => {
    for (const secret of ["", "x", SECRET, "é".repeat(1000)]) assert.equal(hashSecret(secret).length, 22);
  });
});

describe("parseCookieValue", () => {
  it("reads a 12-character tag and a 43-character secret, and looks the session up by the secret's hash", () => {
    assert.deepEqual(parseCookieValue(`${TAG}.${SECRET}`), { tag: TAG, id: hashSecret(SECRET) });
  });

  it("accepts every base64url character in both parts", () => {
    for (const c of ["A", "z", "0", "9", "_", "-"]) {
      const tag = c.repeat(12);
      const secret = c.repeat(43);
      assert.deepEqual(parseCookieValue(`${tag}.${secret}`), { tag, id: hashSecret(secret) }, c);
    }
  });

  it("refuses a tag or a secret of the wrong length", () => {
    assert.equal(parseCookieValue(`${TAG.slice(1)}.${SECRET}`), null);
    assert.equal(parseCookieValue(`${TAG}A.${SECRET}`), null);
    assert.equal(parseCookieValue(`${TAG}.${SECRET.slice(1)}`), null);
    assert.equal(parseCookieValue(`${TAG}.${SECRET}A`), null);
    assert.equal(parseCookieValue(`.${SECRET}`), null);
    assert.equal(parseCookieValue(`${TAG}.`), null);
  });

  it("refuses anything before or after a well-formed value", () => {
    assert.equal(parseCookieValue(`x${TAG}.${SECRET}`), null);
    assert.equal(parseCookieValue(`${TAG}.${SECRET}x`), null);
    assert.equal(parseCookieValue(` ${TAG}.${SECRET}`), null);
    assert.equal(parseCookieValue(`${TAG}.${SECRET}\n`), null);
    assert.equal(parseCookieValue(`${TAG}.${SECRET}.${SECRET}`), null);
  });

  it("refuses characters outside base64url, in the tag or in the secret", () => {
    for (const c of ["+", "/", "=", "%", " ", ".", "é"]) {
      assert.equal(parseCookieValue(`${c}${TAG.slice(1)}.${SECRET}`), null, `tag with ${c}`);
      assert.equal(parseCookieValue(`${TAG}.${SECRET.slice(1)}${c}`), null, `secret with ${c}`);
    }
  });

  it("refuses a value whose parts are not separated by a dot", () => {
    assert.equal(parseCookieValue(`${TAG}_${SECRET}`), null);
    assert.equal(parseCookieValue(`${TAG}${SECRET}A`), null);
  });

  it("refuses the empty value", () => {
    assert.equal(parseCookieValue(""), null);
  });
});
