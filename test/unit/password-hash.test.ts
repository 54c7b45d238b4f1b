/**
 * src/auth/passwords/hash.ts, branch by branch: argon2id, the bare legacy forms, their argon2id
 * wrapping (issue #15), what is never recognised, and the cost of every verification.
 */
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import os from "node:os";
import argon2 from "argon2";
import {
  argon2Load,
  hashPassword,
  isBareLegacy,
  isUnsalted,
  needsRehash,
  schemeOf,
  verifyDummy,
  verifyPassword,
  wrapLegacy,
} from "../../src/auth/passwords/hash.js";

/** A password with non-ASCII letters: every form hashes it as UTF-8. */
const PW = "pässwörd-1";
/** A salt with a space, non-ASCII letters and "/": its hex in the wrapped form holds 0, 9, a and f. */
const SALT = "s4lt ü/©9";
const md5b64 = (pw: string) => createHash("md5").update(pw, "utf8").digest("base64");
const sha256hex = (pw: string) => createHash("sha256").update(pw, "utf8").digest("hex");
const OMERO = md5b64(PW);
const XNAT = sha256hex(PW);
const XNAT_SALTED = `${sha256hex(`${PW}{${SALT}}`)}{${SALT}}`;

/** Every character of the base64 and hex alphabets' ends, so that no narrower pattern passes. */
const B64_CHARS = "AZaz09+/AZaz09+/AZaz09";
const HEX_CHARS = "09af".repeat(16);
const PARAMS = "v=19$m=19456,p=1,t=2";
const TAIL = "$AZaz09+/$AZaz09+/";

const TIMEOUT = { timeout: 60_000 };

/** Waits for the async steps before a hash takes its slot (the dummy hash is made first). */
const settle = () => new Promise((resolve) => setImmediate(resolve));

async function medianMs(n: number, work: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await work();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(n / 2)]!;
}

describe("argon2id hashing slots", () => {
  it("has one slot per core, at least one and at most four", () => {
    assert.equal(argon2Load.slots, Math.max(1, Math.min(4, os.availableParallelism())));
  });

  it("runs at most one hash per core (capped at 4) and queues the rest", TIMEOUT, async () => {
    const n = argon2Load.slots * 2 + 1;
    const pending = Array.from({ length: n }, (_, i) => hashPassword(`password-${i}`));
    assert.equal(argon2Load.running(), argon2Load.slots);
    assert.equal(argon2Load.waiting(), n - argon2Load.slots);
    const hashes = await Promise.all(pending);
    assert.equal(argon2Load.running(), 0);
    assert.equal(argon2Load.waiting(), 0);
    // Every queued hash did its own work.
    assert.equal(new Set(hashes).size, n);
    assert.equal(await verifyPassword(hashes[n - 1]!, `password-${n - 1}`), true);
    assert.equal(await verifyPassword(hashes[n - 1]!, "password-0"), false);
  });

  it("hands a freed slot to the hash that has waited longest", TIMEOUT, async () => {
    await verifyDummy("warm-up");
    const long = Array.from({ length: argon2Load.slots }, (_, i) => hashPassword(`long-${i}`));
    // The order in which queued verifications reach argon2, seen at argon2's own door.
    const order: string[] = [];
    const verify = argon2.verify;
    argon2.verify = ((phc: string, plain: string | Buffer) => {
      if (phc.includes("damaged-")) order.push(phc.slice(phc.indexOf("damaged-") + 8));
      return verify(phc, plain);
    }) as typeof argon2.verify;
    try {
      const first = verifyPassword("$argon2id$damaged-first", "x");
      const second = verifyPassword("$argon2id$damaged-second", "x");
      assert.equal(argon2Load.waiting(), 2);
      await Promise.all([...long, first, second]);
    } finally {
      argon2.verify = verify;
    }
    assert.deepEqual(order, ["first", "second"]);
    assert.equal(argon2Load.running(), 0);
  });

  it("frees the slot when argon2 throws (a damaged stored hash), and the dummy check queues too", TIMEOUT, async () => {
    const damaged = "$argon2id$v=19$m=19456,t=2,p=1$AAAA$BBBB";
    const results = await Promise.all([
      ...Array.from({ length: argon2Load.slots + 1 }, () => verifyPassword(damaged, "x")),
      verifyDummy("whatever"),
    ]);
    assert.deepEqual(results, Array.from({ length: argon2Load.slots + 2 }, () => false));
    assert.equal(argon2Load.running(), 0);
    assert.equal(argon2Load.waiting(), 0);
  });
});

describe("damaged stored hashes", () => {
  it("cost a dummy argon2id verification, so a damaged record answers no faster than an unknown name", TIMEOUT, async () => {
    const median = async (f: () => Promise<unknown>) => {
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t = performance.now();
        await f();
        times.push(performance.now() - t);
      }
      return times.sort((a, b) => a - b)[2]!;
    };
    await verifyDummy("warm-up");
    const unknown = await median(() => verifyDummy("x"));
    for (const damaged of ["$argon2id$v=19$m=19456,t=2,p=1$AAAA$BBBB", "$argon2id-omero-md5$v=19$m=19456,p=1,t=2$AAAA$BBBB"]) {
      assert.equal(await verifyPassword(damaged, "x"), false);
      const spent = await median(() => verifyPassword(damaged, "x"));
      assert.ok(spent > unknown * 0.5, `${damaged} answered in ${spent.toFixed(2)} ms against ${unknown.toFixed(2)} ms for an unknown name`);
    }
  });
});

describe("argon2id hashes", () => {
  it("are PHC strings with OWASP's parameters and a salt of their own", TIMEOUT, async () => {
    const a = await hashPassword(PW);
    const b = await hashPassword(PW);
    assert.match(a, /^\$argon2id\$v=19\$m=19456,p=1,t=2\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    assert.notEqual(a, b);
    assert.equal(schemeOf(a), "argon2id");
    assert.equal(await verifyPassword(a, PW), true);
    assert.equal(await verifyPassword(b, PW), true);
    assert.equal(await verifyPassword(a, "pässwörd-2"), false);
    assert.equal(await verifyPassword(a, ""), false);
    assert.equal(needsRehash(a), false);
    assert.equal(isUnsalted(a), false);
    assert.equal(isBareLegacy(a), false);
    assert.equal(await wrapLegacy(a), a, "wrapping changed an argon2id hash");
  });

  it("with weaker parameters than today's need a rehash", TIMEOUT, async () => {
    const weak = await argon2.hash(PW, { type: argon2.argon2id, memoryCost: 4096, timeCost: 2, parallelism: 1 });
    assert.equal(schemeOf(weak), "argon2id");
    assert.equal(await verifyPassword(weak, PW), true);
    assert.equal(needsRehash(weak), true);
  });
});

describe("recognising stored hashes", () => {
  const recognised: [string, string, string][] = [
    ["argon2id", `$argon2id$${PARAMS}${TAIL}`, "argon2id"],
    ["a bare OMERO digest", `${B64_CHARS}==`, "omero-md5"],
    ["an OMERO digest with its prefix", `omero-md5:${B64_CHARS}==`, "omero-md5"],
    ["a bare XNAT digest", HEX_CHARS, "xnat-sha256"],
    ["an XNAT digest in capitals", HEX_CHARS.toUpperCase(), "xnat-sha256"],
    ["an XNAT digest with its prefix", `xnat-sha256:${HEX_CHARS}`, "xnat-sha256"],
    ["a salted XNAT digest", `${HEX_CHARS}{a salt}`, "xnat-sha256-salted"],
    ["a salted XNAT digest with its prefix", `xnat-sha256:${HEX_CHARS}{a salt}`, "xnat-sha256-salted"],
    ["a salted XNAT digest with an empty salt", `${HEX_CHARS}{}`, "xnat-sha256-salted"],
    ["a wrapped OMERO digest", `$argon2id-omero-md5$${PARAMS}${TAIL}`, "argon2id-omero-md5"],
    ["a wrapped XNAT digest", `$argon2id-xnat-sha256$${PARAMS}${TAIL}`, "argon2id-xnat-sha256"],
    ["a wrapped salted XNAT digest", `$argon2id-xnat-sha256-salted$${PARAMS},ls=09af${TAIL}`, "argon2id-xnat-sha256-salted"],
    ["a wrapped salted XNAT digest with an empty salt", `$argon2id-xnat-sha256-salted$${PARAMS},ls=${TAIL}`, "argon2id-xnat-sha256-salted"],
    ["a wrapped digest with the shortest fields the form allows", "$argon2id-omero-md5$v=1$m=1,p=1,t=1$A$B", "argon2id-omero-md5"],
    // argon2 has written its parameters in other orders (m,t,p before); wrapped hashes stay readable.
    ["a wrapped digest with its parameters in the order t, m, p", `$argon2id-omero-md5$v=19$t=22,m=19456,p=11${TAIL}`, "argon2id-omero-md5"],
    ["a wrapped digest with its parameters in the order p, t, m", `$argon2id-omero-md5$v=19$p=11,t=22,m=19456${TAIL}`, "argon2id-omero-md5"],
  ];
  for (const [what, stored, scheme] of recognised) {
    it(`recognises ${what} as ${scheme}`, () => {
      assert.equal(schemeOf(stored), scheme);
      assert.equal(isBareLegacy(stored), ["omero-md5", "xnat-sha256", "xnat-sha256-salted"].includes(scheme));
    });
  }

  const unrecognised: [string, string][] = [
    ["an empty string", ""],
    ["a word", "password"],
    ["argon2i", `$argon2i$${PARAMS}${TAIL}`],
    ["bcrypt", "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"],
    ["LDAP's SSHA", "{SSHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="],
    ["an OMERO digest one character short", `${B64_CHARS.slice(1)}==`],
    ["an OMERO digest one character long", `A${B64_CHARS}==`],
    ["an OMERO digest with one padding sign", `${B64_CHARS}=`],
    ["an OMERO digest with a character outside base64", `${B64_CHARS.slice(1)}-==`],
    ["an OMERO digest after other text", `x${B64_CHARS}==`],
    ["an OMERO digest before other text", `${B64_CHARS}==x`],
    ["an OMERO digest with XNAT's prefix", `xnat-sha256:${B64_CHARS}==`],
    ["an XNAT digest one digit short", HEX_CHARS.slice(1)],
    ["an XNAT digest one digit long", `0${HEX_CHARS}`],
    ["an XNAT digest with a letter after f", `g${HEX_CHARS.slice(1)}`],
    ["an XNAT digest after other text", `x${HEX_CHARS}`],
    ["an XNAT digest before other text", `${HEX_CHARS}x`],
    ["an XNAT digest with OMERO's prefix", `omero-md5:${HEX_CHARS}`],
    ["a salted XNAT digest whose salt is not closed", `${HEX_CHARS}{salt`],
    ["a salted XNAT digest with a brace inside its salt", `${HEX_CHARS}{sa}lt}`],
    ["a wrapped digest after other text", `x$argon2id-omero-md5$${PARAMS}${TAIL}`],
    ["a wrapped digest before other text", `$argon2id-omero-md5$${PARAMS}${TAIL}$x`],
    ["a wrapped digest of an unknown legacy form", `$argon2id-bcrypt$${PARAMS}${TAIL}`],
    ["a wrapped digest without its version", `$argon2id-omero-md5$m=19456,p=1,t=2${TAIL}`],
    ["a wrapped digest with two parameters", `$argon2id-omero-md5$v=19$m=19456,t=2${TAIL}`],
    ["a wrapped digest with a parameter argon2 does not have", `$argon2id-omero-md5$v=19$m=19456,p=1,x=2${TAIL}`],
    ["a wrapped digest with an unknown first parameter", `$argon2id-omero-md5$v=19$x=2,m=19456,t=2${TAIL}`],
    ["a wrapped digest with an unknown second parameter", `$argon2id-omero-md5$v=19$m=19456,x=2,t=2${TAIL}`],
    ["a wrapped digest whose version is no number", `$argon2id-omero-md5$v=x9$m=19456,p=1,t=2${TAIL}`],
    ["a wrapped digest whose first parameter is no number", `$argon2id-omero-md5$v=19$m=lots,p=1,t=2${TAIL}`],
    ["a wrapped digest whose second parameter is no number", `$argon2id-omero-md5$v=19$m=19456,p=one,t=2${TAIL}`],
    ["a wrapped digest whose third parameter is no number", `$argon2id-omero-md5$v=19$m=19456,p=1,t=two${TAIL}`],
    ["a wrapped digest without its hash", `$argon2id-omero-md5$${PARAMS}$AZaz09+/`],
    ["a wrapped digest with a character outside base64", `$argon2id-omero-md5$${PARAMS}$AZaz09+/$AZ-az`],
    ["a wrapped salted digest without its salt", `$argon2id-xnat-sha256-salted$${PARAMS}${TAIL}`],
    ["a wrapped unsalted digest with a salt", `$argon2id-xnat-sha256$${PARAMS},ls=09af${TAIL}`],
    ["a wrapped salted OMERO digest (OMERO has none)", `$argon2id-omero-md5-salted$${PARAMS},ls=09af${TAIL}`],
    ["a wrapped salted digest whose salt is not lower-case hex", `$argon2id-xnat-sha256-salted$${PARAMS},ls=09AF${TAIL}`],
  ];
  for (const [what, stored] of unrecognised) {
    it(`does not recognise ${what}`, () => {
      assert.equal(schemeOf(stored), null);
      assert.equal(isBareLegacy(stored), false);
      assert.equal(isUnsalted(stored), false);
      assert.equal(needsRehash(stored), true);
    });
  }
});

describe("verifying", () => {
  before(async () => {
    // The dummy hash is made once, at the first use; made here, it does not count in the slots below.
    await verifyDummy("warm-up");
  });

  const bare: [string, string, string][] = [
    ["OMERO's base64(md5)", OMERO, "omero-md5"],
    ["OMERO's form with its prefix", `omero-md5:${OMERO}`, "omero-md5"],
    ["XNAT's hex sha256", XNAT, "xnat-sha256"],
    ["XNAT's hex sha256 in capitals", XNAT.toUpperCase(), "xnat-sha256"],
    ["XNAT's form with its prefix", `xnat-sha256:${XNAT}`, "xnat-sha256"],
    ["XNAT's salted sha256", XNAT_SALTED, "xnat-sha256-salted"],
    ["XNAT's salted form with its prefix", `xnat-sha256:${XNAT_SALTED}`, "xnat-sha256-salted"],
  ];

  for (const [what, stored, scheme] of bare) {
    it(`verifies ${what} bare, only with its password, at the cost of an argon2id verification`, TIMEOUT, async () => {
      assert.equal(schemeOf(stored), scheme);
      assert.equal(isBareLegacy(stored), true);
      assert.equal(needsRehash(stored), true);
      assert.equal(await verifyPassword(stored, PW), true);
      for (const wrong of ["pässwörd-2", "passwort-1", "", stored]) assert.equal(await verifyPassword(stored, wrong), false, wrong);
      const pending = verifyPassword(stored, PW);
      await settle();
      assert.equal(argon2Load.running(), 1, "a bare legacy verification took no argon2 slot");
      assert.equal(await pending, true);
    });

    it(`wraps ${what} in argon2id without keeping the digest, and verifies the wrapped form only with its password`, TIMEOUT, async () => {
      const wrapped = await wrapLegacy(stored);
      assert.equal(schemeOf(wrapped), `argon2id-${scheme}`);
      assert.ok(wrapped.startsWith(`$argon2id-${scheme}$v=19$m=19456,p=1,t=2`), wrapped);
      const digest = /^(?:[a-z0-9-]+:)?([^{]+)/i.exec(stored)![1]!;
      assert.ok(!wrapped.toLowerCase().includes(digest.toLowerCase()), "the wrapped form holds the legacy digest");
      assert.ok(!wrapped.includes(Buffer.from(digest, scheme === "omero-md5" ? "base64" : "hex").toString("base64").replace(/=+$/, "")), "the wrapped form holds the legacy digest in base64");
      assert.equal(isBareLegacy(wrapped), false);
      assert.equal(needsRehash(wrapped), true);
      assert.equal(await wrapLegacy(wrapped), wrapped, "wrapping twice changed the hash");
      assert.equal(await verifyPassword(wrapped, PW), true);
      for (const wrong of ["pässwörd-2", "passwort-1", "", stored, wrapped]) assert.equal(await verifyPassword(wrapped, wrong), false, wrong);
      // The standard argon2id string inside is argon2id of the raw legacy digest.
      const inner = wrapped.replace(`-${scheme}$`, "$").replace(/,ls=[0-9a-f]*/, "");
      const raw = scheme === "omero-md5" ? createHash("md5").update(PW).digest() : createHash("sha256").update(scheme === "xnat-sha256" ? PW : `${PW}{${SALT}}`).digest();
      assert.equal(await argon2.verify(inner, raw), true);
    });
  }

  it("keeps the salt of a salted XNAT digest in the wrapped form, as hex of its UTF-8 bytes", TIMEOUT, async () => {
    const wrapped = await wrapLegacy(XNAT_SALTED);
    assert.match(wrapped, /^\$argon2id-xnat-sha256-salted\$v=19\$m=19456,p=1,t=2,ls=73346c7420c3bc2fc2a939\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/);
    // Another salt in the wrapper is another digest: the password no longer matches.
    assert.equal(await verifyPassword(wrapped.replace("ls=73346c74", "ls=73346c75"), PW), false);
    const empty = `${sha256hex(`${PW}{}`)}{}`;
    const wrappedEmpty = await wrapLegacy(empty);
    assert.match(wrappedEmpty, /,ls=\$/);
    assert.equal(await verifyPassword(wrappedEmpty, PW), true);
    assert.equal(await verifyPassword(wrappedEmpty, `${PW}{}`), false);
  });

  it("tells unsalted legacy forms, bare or wrapped, from salted ones (requireSaltedPasswords)", TIMEOUT, async () => {
    const expected: [string, boolean][] = [
      [OMERO, true],
      [XNAT, true],
      [XNAT_SALTED, false],
      [await wrapLegacy(OMERO), true],
      [await wrapLegacy(XNAT), true],
      [await wrapLegacy(XNAT_SALTED), false],
      [await hashPassword(PW), false],
      ["", false],
    ];
    for (const [stored, unsalted] of expected) assert.equal(isUnsalted(stored), unsalted, stored);
  });

  it("never verifies any password against an empty or unrecognised hash, and still costs an argon2id verification", TIMEOUT, async () => {
    for (const stored of ["", "x", "{SSHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", `$argon2i$${PARAMS}${TAIL}`, `${OMERO}x`]) {
      for (const password of ["", "x", PW, stored]) assert.equal(await verifyPassword(stored, password), false, `${stored} / ${password}`);
      assert.equal(await wrapLegacy(stored), stored);
      const pending = verifyPassword(stored, stored);
      await settle();
      assert.equal(argon2Load.running(), 1, `an unrecognised hash (${stored}) took no argon2 slot`);
      assert.equal(await pending, false);
    }
  });

  it("answers an unknown user with false after an argon2id verification of about the usual cost", TIMEOUT, async () => {
    const real = await hashPassword(PW);
    assert.equal(await verifyDummy(PW), false);
    assert.equal(await verifyDummy(""), false);
    const pending = verifyDummy(PW);
    // The dummy hash exists already: nothing is hashed before the verification takes its slot.
    assert.equal(argon2Load.running(), 0, "the dummy hash was made again");
    await settle();
    assert.equal(argon2Load.running(), 1, "the dummy verification took no argon2 slot");
    await pending;
    const dummyMs = await medianMs(5, () => verifyDummy(PW));
    const realMs = await medianMs(5, () => verifyPassword(real, "wrong"));
    assert.ok(dummyMs > realMs * 0.5, `the dummy verification took ${dummyMs.toFixed(1)} ms, a real one ${realMs.toFixed(1)} ms`);
  });
});
