/**
 * Account records are changed by compare-and-set: a change made on another process between a
 * read and the write that follows it is never undone (the same rule as the legacy-hash wrapping).
 */
import { Regulation } from "../../../src/regulation/regulation.js";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { ManualClock } from "../../../src/clock.js";
import { validate } from "../../../src/config/load.js";
import { compileSite } from "../../../src/config/site.js";
import { Accounts, type UserRecord } from "../../../src/auth/local/accounts.js";
import { LoginService } from "../../../src/auth/login.js";
import { createLogger } from "../../../src/log/logger.js";
import { createEmbeddedStore } from "../../../src/store/embedded/embedded-store.js";
import type { Store } from "../../../src/store/store.js";

/** A store on which `meanwhile` runs once, just before the first write of a user record. */
function racingStore(inner: Store, meanwhile: () => Promise<void>): Store {
  let raced = false;
  const race = async (kind: string) => {
    if (raced || kind !== "user") return;
    raced = true;
    await meanwhile();
  };
  return {
    ...inner,
    async putRecord<T>(kind: string, id: string, value: T) {
      await race(kind);
      return inner.putRecord(kind, id, value);
    },
    async replaceRecord<T>(kind: string, id: string, expected: T, value: T) {
      await race(kind);
      return inner.replaceRecord(kind, id, expected, value);
    },
  };
}

describe("account changes on two processes", () => {
  it("a login noting its time does not re-enable an account disabled meanwhile on another process", async () => {
    const inner = await createEmbeddedStore({ dataDir: null });
    const clock = new ManualClock();
    const elsewhere = new Accounts(inner, clock);
    await elsewhere.add({ name: "fay", password: "fay-password-1", roles: ["user"] });
    const store = racingStore(inner, async () => void (await elsewhere.setEnabled("fay", false)));
    const accounts = new Accounts(store, clock);
    const site = compileSite(validate({}).site);
    const log = createLogger({ level: "silent", destination: new Writable({ write: (_c, _e, cb) => cb() }) });
    const logins = new LoginService({ regulation: new Regulation({ store, clock, site: () => site, ipLimit: { count: 100, windowMs: 60_000 }, audit: () => undefined }), accounts, clock, site: () => site, log });
    assert.equal((await logins.login("fay", "fay-password-1", "10.0.0.1")).ok, true);
    const fay = (await inner.getRecord<UserRecord>("user", "fay"))!;
    assert.equal(fay.enabled, false, "the login's bookkeeping put back enabled: true");
    assert.equal(fay.lastLoginAt, clock.now(), "the login's time was lost");
    await inner.close();
  });

  it("two role changes made at once both land", async () => {
    const inner = await createEmbeddedStore({ dataDir: null });
    const clock = new ManualClock();
    const elsewhere = new Accounts(inner, clock);
    await elsewhere.add({ name: "gil", password: "gil-password-1", roles: ["user"] });
    const accounts = new Accounts(racingStore(inner, async () => void (await elsewhere.update("gil", (u) => u.roles.push("scientists")))), clock);
    await accounts.update("gil", (u) => u.roles.push("admin"));
    assert.deepEqual((await inner.getRecord<UserRecord>("user", "gil"))!.roles, ["user", "scientists", "admin"]);
    await inner.close();
  });
});
