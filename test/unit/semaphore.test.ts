/**
 * Semaphore and KeyedLimiter (src/regulation/semaphore.ts), the turn-taking under login regulation
 * (SPEC §6.4): at most `limit` tasks at once, the rest in arrival order, a freed slot handed straight
 * to the next waiter, and per-key semaphores dropped when idle. Tasks are deferred promises resolved
 * by hand; no timers.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KeyedLimiter, Semaphore } from "../../src/regulation/semaphore.js";

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

function deferred<T = string>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets every pending promise reaction run (microtasks only). */
async function flush(): Promise<void> {
  for (let i = 0; i < 50; i++) await Promise.resolve();
}

/** Tasks that record when they start and how many run at once; each ends when the test says so. */
function tracker() {
  const started: string[] = [];
  let current = 0;
  let most = 0;
  const gates = new Map<string, Deferred<string>>();
  /** The promise each started task handed back (settles right before the semaphore frees its slot). */
  const handed = new Map<string, Promise<string>>();
  const task = (name: string) => () => {
    started.push(name);
    current++;
    most = Math.max(most, current);
    const gate = deferred<string>();
    gates.set(name, gate);
    const p = gate.promise.then(
      (v) => {
        current--;
        return v;
      },
      (e: unknown) => {
        current--;
        throw e;
      },
    );
    handed.set(name, p);
    return p;
  };
  const finish = (name: string, value = `${name} done`) => {
    const gate = gates.get(name);
    assert.ok(gate, `${name} has not started`);
    gate.resolve(value);
  };
  const fail = (name: string, error: unknown) => {
    const gate = gates.get(name);
    assert.ok(gate, `${name} has not started`);
    gate.reject(error);
  };
  return {
    started,
    task,
    finish,
    fail,
    handed,
    get current() {
      return current;
    },
    get most() {
      return most;
    },
  };
}

describe("Semaphore", () => {
  it("runs at most `limit` tasks at once; the rest wait and start in arrival order as slots free", async () => {
    const sem = new Semaphore(2);
    const t = tracker();
    const results = ["A", "B", "C", "D", "E"].map((name) => sem.run(t.task(name)));
    await flush();
    assert.deepEqual(t.started, ["A", "B"]);
    assert.equal(sem.running, 2);
    assert.equal(sem.waiting, 3);

    t.finish("B");
    await flush();
    assert.deepEqual(t.started, ["A", "B", "C"]);
    assert.equal(sem.running, 2);
    assert.equal(sem.waiting, 2);

    t.finish("A");
    await flush();
    assert.deepEqual(t.started, ["A", "B", "C", "D"]);
    assert.equal(sem.running, 2);
    assert.equal(sem.waiting, 1);

    t.finish("D");
    await flush();
    assert.deepEqual(t.started, ["A", "B", "C", "D", "E"]);
    assert.equal(sem.running, 2);
    assert.equal(sem.waiting, 0);

    t.finish("C");
    t.finish("E");
    assert.deepEqual(await Promise.all(results), ["A done", "B done", "C done", "D done", "E done"]);
    assert.equal(t.most, 2);
    assert.equal(sem.running, 0);
    assert.equal(sem.waiting, 0);
  });

  it("with limit 1 runs strictly one at a time, in arrival order", async () => {
    const sem = new Semaphore(1);
    const t = tracker();
    const results = ["A", "B", "C"].map((name) => sem.run(t.task(name)));
    for (const [i, name] of ["A", "B", "C"].entries()) {
      await flush();
      assert.deepEqual(t.started, ["A", "B", "C"].slice(0, i + 1));
      assert.equal(sem.running, 1);
      assert.equal(sem.waiting, 2 - i);
      t.finish(name);
    }
    assert.deepEqual(await Promise.all(results), ["A done", "B done", "C done"]);
    assert.equal(t.most, 1);
    assert.equal(sem.running, 0);
  });

  it("hands a freed slot to the next waiter: a newcomer arriving as the slot frees waits behind it", async () => {
    const sem = new Semaphore(1);
    const t = tracker();
    const a = sem.run(t.task("A"));
    const b = sem.run(t.task("B"));
    await flush();
    assert.deepEqual(t.started, ["A"]);
    assert.equal(sem.waiting, 1);

    // Registered after the semaphore's own reaction to A's promise: it runs right after A's slot is
    // released and before B has resumed, the moment a newcomer could take a slot that fell free.
    let newcomer: Promise<string> | undefined;
    void t.handed.get("A")!.then(() => {
      newcomer = sem.run(t.task("N"));
      assert.equal(sem.running, 1, "the slot was handed over, not released");
      assert.equal(sem.waiting, 1, "the newcomer queued");
    });
    t.finish("A");
    await flush();
    assert.ok(newcomer, "the newcomer arrived");
    assert.deepEqual(t.started, ["A", "B"]);
    assert.equal(t.current, 1);
    assert.equal(sem.running, 1);
    assert.equal(sem.waiting, 1);

    t.finish("B");
    await flush();
    assert.deepEqual(t.started, ["A", "B", "N"]);
    t.finish("N");
    assert.deepEqual(await Promise.all([a, b, newcomer!]), ["A done", "B done", "N done"]);
    assert.equal(t.most, 1);
    assert.equal(sem.running, 0);
    assert.equal(sem.waiting, 0);
  });

  it("never runs more than the limit while tasks keep arriving as others end", async () => {
    const sem = new Semaphore(3);
    const t = tracker();
    const all: Promise<string>[] = [];
    const ended = new Set<string>();
    for (let i = 0; i < 6; i++) all.push(sem.run(t.task(`T${i}`)));
    for (let i = 0; i < 12; i++) {
      await flush();
      assert.ok(sem.running <= 3, `running ${sem.running}`);
      assert.equal(t.current, sem.running);
      // End the oldest running task and let a new one arrive in the same tick.
      const oldest = t.started.find((name) => !ended.has(name))!;
      ended.add(oldest);
      t.finish(oldest);
      if (i < 6) all.push(sem.run(t.task(`T${i + 6}`)));
    }
    await Promise.all(all);
    assert.deepEqual(
      t.started,
      Array.from({ length: 12 }, (_, i) => `T${i}`),
    );
    assert.equal(t.most, 3);
    assert.equal(sem.running, 0);
    assert.equal(sem.waiting, 0);
  });

  it("a task that rejects frees its slot for the next waiter, and its caller gets the error", async () => {
    const sem = new Semaphore(1);
    const t = tracker();
    const boom = new Error("boom");
    const a = sem.run(t.task("A"));
    const b = sem.run(t.task("B"));
    await flush();
    t.fail("A", boom);
    await assert.rejects(a, (e) => e === boom);
    await flush();
    assert.deepEqual(t.started, ["A", "B"]);
    assert.equal(sem.running, 1);
    assert.equal(sem.waiting, 0);
    t.finish("B");
    assert.equal(await b, "B done");
    assert.equal(sem.running, 0);
  });

  it("a task that throws synchronously frees its slot too", async () => {
    const sem = new Semaphore(1);
    const t = tracker();
    const boom = new Error("sync boom");
    const a = sem.run(() => {
      throw boom;
    });
    const b = sem.run(t.task("B"));
    await assert.rejects(a, (e) => e === boom);
    await flush();
    assert.deepEqual(t.started, ["B"]);
    assert.equal(sem.running, 1);
    t.finish("B");
    assert.equal(await b, "B done");
    assert.equal(sem.running, 0);
    assert.equal(sem.waiting, 0);
  });
});

describe("KeyedLimiter", () => {
  it("keeps keys independent: a full key's queue does not hold another key's tasks", async () => {
    const limiter = new KeyedLimiter(1);
    const t = tracker();
    const a1 = limiter.run("a", t.task("a1"));
    const a2 = limiter.run("a", t.task("a2"));
    const b1 = limiter.run("b", t.task("b1"));
    await flush();
    assert.deepEqual(t.started, ["a1", "b1"]);
    assert.equal(limiter.size, 2);

    t.finish("b1");
    assert.equal(await b1, "b1 done");
    await flush();
    assert.deepEqual(t.started, ["a1", "b1"], "b ending does not release a");
    assert.equal(limiter.size, 1, "idle b is dropped, busy a kept");

    t.finish("a1");
    assert.equal(await a1, "a1 done");
    await flush();
    assert.deepEqual(t.started, ["a1", "b1", "a2"]);
    assert.equal(limiter.size, 1);

    t.finish("a2");
    assert.equal(await a2, "a2 done");
    await flush();
    assert.equal(limiter.size, 0);
  });

  it("applies its limit per key", async () => {
    const limiter = new KeyedLimiter(2);
    const t = tracker();
    const all = [limiter.run("x", t.task("x1")), limiter.run("x", t.task("x2")), limiter.run("x", t.task("x3")), limiter.run("y", t.task("y1")), limiter.run("y", t.task("y2"))];
    await flush();
    assert.deepEqual(t.started, ["x1", "x2", "y1", "y2"]);
    t.finish("x2");
    await flush();
    assert.deepEqual(t.started, ["x1", "x2", "y1", "y2", "x3"]);
    for (const name of ["x1", "x3", "y1", "y2"]) t.finish(name);
    assert.deepEqual(await Promise.all(all), ["x1 done", "x2 done", "x3 done", "y1 done", "y2 done"]);
    assert.equal(t.most, 4);
    assert.equal(limiter.size, 0);
  });

  it("drops a key's semaphore when idle, also after a rejection, and makes a fresh one on next use", async () => {
    const limiter = new KeyedLimiter(1);
    const t = tracker();
    assert.equal(limiter.size, 0);
    const boom = new Error("boom");
    const c1 = limiter.run("c", t.task("c1"));
    const c2 = limiter.run("c", t.task("c2"));
    await flush();
    assert.equal(limiter.size, 1);
    t.fail("c1", boom);
    await assert.rejects(c1, (e) => e === boom);
    await flush();
    assert.deepEqual(t.started, ["c1", "c2"], "the waiter runs after the rejection");
    assert.equal(limiter.size, 1, "still busy with c2");
    t.fail("c2", boom);
    await assert.rejects(c2, (e) => e === boom);
    await flush();
    assert.equal(limiter.size, 0);

    const sync = limiter.run("d", () => {
      throw boom;
    });
    await assert.rejects(sync, (e) => e === boom);
    assert.equal(limiter.size, 0);

    const c3 = limiter.run("c", t.task("c3"));
    await flush();
    assert.deepEqual(t.started, ["c1", "c2", "c3"]);
    assert.equal(limiter.size, 1);
    t.finish("c3");
    assert.equal(await c3, "c3 done");
    assert.equal(limiter.size, 0);
  });

  it("keeps a key whose last task ended while a newcomer for it is running", async () => {
    const limiter = new KeyedLimiter(1);
    const t = tracker();
    const k1 = limiter.run("k", t.task("k1"));
    let k2: Promise<string> | undefined;
    void t.handed.get("k1")!.then(() => {
      k2 = limiter.run("k", t.task("k2"));
    });
    await flush();
    t.finish("k1");
    assert.equal(await k1, "k1 done");
    await flush();
    assert.deepEqual(t.started, ["k1", "k2"]);
    assert.equal(limiter.size, 1, "k2 still runs under the key");
    // A third task for the key must wait for k2: the key's semaphore was not replaced.
    const k3 = limiter.run("k", t.task("k3"));
    await flush();
    assert.deepEqual(t.started, ["k1", "k2"]);
    t.finish("k2");
    await flush();
    assert.deepEqual(t.started, ["k1", "k2", "k3"]);
    t.finish("k3");
    assert.deepEqual(await Promise.all([k2!, k3]), ["k2 done", "k3 done"]);
    assert.equal(t.most, 1);
    assert.equal(limiter.size, 0);
  });
});
