/** Failed-login counts in Redis: per account a hash beside the user's version, per address a window counter. */
import { USER_CHANGED } from "../record-store.js";
import type { FailureState, RegulationStore } from "../regulation-store.js";
import { type RedisContext, run } from "./context.js";

/** Failure counters are kept this long after the last failure (garbage collection only). */
const FAILURE_TTL_MS = 30 * 86_400_000;

export function redisRegulationStore({ client, keys: k }: RedisContext): RegulationStore {
  return {
    recordLoginFailure: (user, now, rule) =>
      run(async () => {
        const ttl = Math.max(FAILURE_TTL_MS, rule.lockMs * 2);
        const [n, at] = await client.pcRecordFailure(k.failures(user), k.version(user), now, rule.maxFailures, rule.lockMs, ttl, k.channel(USER_CHANGED), user);
        return { failures: Number(n), lockedAt: Number(at) < 0 ? null : Number(at) };
      }),

    getLoginFailures: (user) =>
      run(async () => {
        const [n, at] = await client.hmget(k.failures(user), "n", "at");
        return { failures: Number(n ?? 0), lockedAt: at === null || Number(at) < 0 ? null : Number(at) } satisfies FailureState;
      }),

    clearLoginFailures: (user) => run(async () => void (await client.del(k.failures(user)))),

    countIpFailure: (ip, now, windowMs) => run(async () => Number(await client.pcCountWindow(k.ipWindow(ip, Math.floor(now / windowMs)), windowMs * 2))),

    getIpFailures: (ip, now, windowMs) => run(async () => Number((await client.get(k.ipWindow(ip, Math.floor(now / windowMs)))) ?? 0)),
  };
}
