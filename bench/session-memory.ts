/**
 * Redis memory per idle session: 100k sessions (1,000 users × 100) written through the Redis store
 * under their own key prefix, measured as the growth of `used_memory`, then deleted again.
 */
import { Redis } from "ioredis";
import { createRedisStore } from "../src/store/redis/redis-store.js";
import { sessionTag, type SessionRecord } from "../src/store/store.js";
import { createHash, randomBytes } from "node:crypto";

const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 100_000);

export async function sessionMemory(port: number): Promise<{ sessions: number; bytesPerSession: number }> {
  const url = `redis://127.0.0.1:${port}`;
  const probe = new Redis(url);
  const used = async () => Number(/used_memory:(\d+)/.exec(await probe.info("memory"))?.[1]);
  const prefix = "membench:";
  const store = await createRedisStore({ target: { kind: "url", url }, prefix });
  const before = await used();
  const now = Date.now();
  const users = 1000;
  for (let i = 0; i < SESSIONS; i += 500) {
    await Promise.all(
      Array.from({ length: Math.min(500, SESSIONS - i) }, (_, j) => {
        const user = `user${(i + j) % users}`;
        const session: SessionRecord = {
          id: createHash("sha256").update(randomBytes(32)).digest("base64url"),
          tag: sessionTag(user),
          user,
          provider: "local",
          roles: ["member"],
          email: `${user}@example.org`,
          createdAt: now,
          lastSeenAt: now,
          expiresAt: now + 15 * 60_000,
          absoluteExpiresAt: now + 12 * 3_600_000,
          encrypted: true,
          csrfToken: randomBytes(24).toString("base64url"),
        };
        return store.createSession(session, { maxSessions: 1_000_000, policy: "refuse", now });
      }),
    );
  }
  const after = await used();
  // Clean up so the rest of the run (and a rerun) starts from the same Redis.
  let cursor = "0";
  do {
    const [next, keys] = await probe.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    if (keys.length) await probe.del(...keys);
    cursor = next;
  } while (cursor !== "0");
  await store.close();
  probe.disconnect();
  return { sessions: SESSIONS, bytesPerSession: Math.round((after - before) / SESSIONS) };
}
