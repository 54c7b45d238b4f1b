import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { argon2Load, hashPassword, verifyDummy, verifyPassword } from "../../src/auth/passwords/hash.js";

describe("argon2id hashing slots", () => {
  it("runs at most one hash per core (capped at 4) and queues the rest", async () => {
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

  it("frees the slot when argon2 throws (a damaged stored hash), and the dummy check queues too", async () => {
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
