/** Which store failures are an outage (503, fail closed) and which stay errors (500): a table over real error objects. */
import assert from "node:assert/strict";
import net from "node:net";
import { describe, it } from "node:test";
import { ReplyError } from "ioredis";
// Not exported from the package root: taken from ioredis's build, as the classes it throws.
import clusterAllFailed from "ioredis/built/errors/ClusterAllFailedError.js";
import { MaxRetriesPerRequestError } from "ioredis/built/errors/index.js";
import { StoreUnavailableError } from "../../src/store/store.js";
import { asStoreError, isStoreUnavailable } from "../../src/store/unavailable.js";
import { freePort } from "../helpers/redis.js";

// A CommonJS module whose class is its `default` export.
const ClusterAllFailedError = clusterAllFailed.default;
/** redis-errors' AbortError, which ioredis throws for commands cut off by a closing connection. */
const AbortError = Object.getPrototypeOf(MaxRetriesPerRequestError) as new (message: string) => Error;

const reply = (text: string): Error => new ReplyError(text);
const systemError = (code: string): Error => Object.assign(new Error(`connect ${code} 127.0.0.1:6379`), { code, syscall: "connect" });
const execAbort = (...previousErrors: Error[]): Error => Object.assign(reply("EXECABORT Transaction discarded because of previous errors."), { previousErrors });

/** Replies as Redis 7 words them. */
const UNAVAILABLE_REPLIES: [string, string][] = [
  ["CLUSTERDOWN", "CLUSTERDOWN Hash slot not served"],
  ["CLUSTERDOWN (cluster state)", "CLUSTERDOWN The cluster is down"],
  ["TRYAGAIN", "TRYAGAIN Multiple keys request during rehashing of slot"],
  ["LOADING", "LOADING Redis is loading the dataset in memory"],
  ["MASTERDOWN", "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."],
  ["READONLY", "READONLY You can't write against a read only replica."],
  ["READONLY from a script", "READONLY You can't write against a read only replica. script: edfb0b9e13f4845e7d148d8539b7a6bdc5c42c15, on @user_script:1."],
  ["NOREPLICAS", "NOREPLICAS Not enough good replicas to write."],
  ["BUSY", "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."],
  ["MISCONF", "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk."],
  ["OOM", "OOM command not allowed when used memory > 'maxmemory'."],
];

const ERROR_REPLIES: [string, string][] = [
  ["WRONGTYPE", "WRONGTYPE Operation against a key holding the wrong kind of value"],
  ["ERR syntax", "ERR syntax error"],
  ["ERR unknown command", "ERR unknown command 'FOO', with args beginning with: "],
  ["ERR from a script on Redis 6, even about a replica", "ERR Error running script (call to f_edfb): @user_script:1: -READONLY You can't write against a read only replica."],
  ["ERR that mentions a timeout", "ERR timed out waiting for the Command timed out"],
  ["CROSSSLOT", "CROSSSLOT Keys in request don't hash to the same slot"],
  ["MOVED to a standalone client", "MOVED 3999 127.0.0.1:6381"],
  ["NOAUTH", "NOAUTH Authentication required."],
  ["WRONGPASS", "WRONGPASS invalid username-password pair or user is disabled."],
  ["NOPERM", "NOPERM this user has no permissions to run the 'get' command"],
  ["NOSCRIPT", "NOSCRIPT No matching script. Please use EVAL."],
  ["BUSYKEY", "BUSYKEY Target key name already exists."],
  ["BUSYGROUP", "BUSYGROUP Consumer Group name already exists"],
  ["EXECABORT alone", "EXECABORT Transaction discarded because of previous errors."],
];

describe("a store outage is told by the error's class, code or reply class", () => {
  for (const [name, text] of UNAVAILABLE_REPLIES) {
    it(`counts a ${name} reply as an outage`, () => {
      assert.equal(isStoreUnavailable(reply(text)), true);
    });
  }

  for (const [name, text] of ERROR_REPLIES) {
    it(`keeps a ${name} reply an error`, () => {
      assert.equal(isStoreUnavailable(reply(text)), false);
    });
  }

  it("counts a transaction refused for an outage as an outage, and one refused for a bug as a bug", () => {
    assert.equal(isStoreUnavailable(execAbort(reply("READONLY You can't write against a read only replica."))), true);
    assert.equal(isStoreUnavailable(execAbort(reply("WRONGTYPE Operation against a key holding the wrong kind of value"))), false);
  });

  it("counts ioredis's client-side outage classes", () => {
    assert.equal(isStoreUnavailable(new MaxRetriesPerRequestError(1)), true);
    assert.equal(isStoreUnavailable(new AbortError("Command aborted due to connection close")), true);
    assert.equal(isStoreUnavailable(new ClusterAllFailedError(ClusterAllFailedError.defaultMessage, null)), true);
  });

  for (const message of [
    "Connection is closed.",
    "Stream isn't writeable and enableOfflineQueue options is false",
    "Cluster isn't ready and enableOfflineQueue options is false",
    "Command timed out",
    "Cluster is disconnected.",
    "None of startup nodes is available",
    "Too many Cluster redirections. Last error: ReplyError: CLUSTERDOWN The cluster is down",
    "All sentinels are unreachable. Retrying from scratch after 10ms. Last error: connect ECONNREFUSED 127.0.0.1:26379",
  ]) {
    it(`counts ioredis's plain "${message.slice(0, 40)}" error`, () => {
      assert.equal(isStoreUnavailable(new Error(message)), true);
    });
  }

  for (const code of ["ECONNREFUSED", "ECONNRESET", "ECONNABORTED", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "EHOSTDOWN", "ENETUNREACH", "ENETDOWN", "ENOTFOUND", "EAI_AGAIN"]) {
    it(`counts a network error ${code}`, () => {
      assert.equal(isStoreUnavailable(systemError(code)), true);
    });
  }

  it("counts a real refused connection", async () => {
    const port = await freePort();
    const err = await new Promise<Error>((resolve) => net.connect(port, "127.0.0.1").once("error", resolve));
    assert.equal(isStoreUnavailable(err), true);
  });

  it("keeps errors that only mention an outage in their text, or carry another code, errors", () => {
    for (const err of [
      new Error("the LDAP bind timed out"),
      new Error("Connection is closed"),
      new Error("ECONNREFUSED"),
      systemError("ENOENT"),
      systemError("EACCES"),
      Object.assign(new Error("the embedded store file is empty"), { code: "ERR_STORE_FILE" }),
      new TypeError("Cannot read properties of undefined"),
    ]) {
      assert.equal(isStoreUnavailable(err), false, err.message);
    }
  });

  it("counts StoreUnavailableError itself, and nothing that is not an Error", () => {
    assert.equal(isStoreUnavailable(new StoreUnavailableError()), true);
    for (const thrown of [undefined, null, "READONLY You can't write", { code: "ECONNREFUSED" }]) assert.equal(isStoreUnavailable(thrown), false);
  });
});

describe("asStoreError", () => {
  it("wraps an outage in StoreUnavailableError (ERR_STORE_UNAVAILABLE) with the outage as cause", () => {
    const cause = reply("CLUSTERDOWN Hash slot not served");
    const err = asStoreError(cause);
    assert.ok(err instanceof StoreUnavailableError);
    assert.equal(err.code, "ERR_STORE_UNAVAILABLE");
    assert.equal(err.cause, cause);
  });

  it("returns anything else, and a StoreUnavailableError, as it is", () => {
    const bug = reply("WRONGTYPE Operation against a key holding the wrong kind of value");
    assert.equal(asStoreError(bug), bug);
    const already = new StoreUnavailableError();
    assert.equal(asStoreError(already), already);
  });
});
