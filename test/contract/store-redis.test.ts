import { after, before } from "node:test";
import { createRedisStore } from "../../src/store/redis/redis-store.js";
import type { Store } from "../../src/store/store.js";
import { startTestRedis, type TestRedis } from "../helpers/redis.js";
import { runStoreContract } from "./store-contract.js";

let redis: TestRedis;
let n = 0;
const prefixes = new WeakMap<Store, string>();

before(async () => {
  redis = await startTestRedis();
});
after(async () => {
  await redis.cleanup();
});

runStoreContract("Redis", {
  async create() {
    // A fresh key prefix per test: one redis-server, no state shared between tests.
    const prefix = `t${++n}:`;
    const store = await createRedisStore({ target: { kind: "url", url: redis.url }, prefix });
    prefixes.set(store, prefix);
    return store;
  },
  async twin(store) {
    return createRedisStore({ target: { kind: "url", url: redis.url }, prefix: prefixes.get(store)! });
  },
});
