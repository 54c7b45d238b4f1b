/**
 * LDAP logins in `npm run bench` (issue #4): a real slapd over ldaps on loopback, logins per second
 * with p50/p99, then 10,000 logins in a bounded loop and the gateway's open sockets to slapd counted
 * before and after (a leak would leave one per login).
 */
import fs from "node:fs";
import autocannon from "autocannon";
import { makePki, type TestPki } from "../test/helpers/certs.js";
import { PEOPLE_SEED, startTestSlapd, type TestSlapd } from "../test/helpers/slapd.js";

export interface BenchDirectory {
  slapd: TestSlapd;
  pki: TestPki;
  /** YAML lines for the gateway's config. */
  configLines: string[];
  stop(): Promise<void>;
}

export async function startBenchDirectory(): Promise<BenchDirectory> {
  const pki = makePki();
  const slapd = await startTestSlapd({ pki });
  const ldap = slapd.ldapConfig();
  return {
    slapd,
    pki,
    configLines: [`security: { trustStore: ${pki.caFile} }`, `ldap: ${JSON.stringify(ldap)}`],
    async stop() {
      await slapd.cleanup();
      pki.cleanup();
    },
  };
}

/** Inodes of the sockets the process holds, from its file descriptors. */
function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      /* closed meanwhile */
    }
  }
  return inodes;
}

/** TCP connections of `pid` whose remote port is `port` (any state but LISTEN). */
export function socketsTo(pid: number, port: number): number {
  const mine = socketInodes(pid);
  let count = 0;
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    if (!fs.existsSync(table)) continue;
    for (const line of fs.readFileSync(table, "utf8").split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10) continue;
      const remotePort = parseInt(cols[2]!.split(":")[1]!, 16);
      if (remotePort === port && cols[3] !== "0A" && mine.has(cols[9]!)) count++;
    }
  }
  return count;
}

export interface LdapLoginResult {
  /** One client logging in again and again: the latency a person sees. */
  sequential: { perSec: number; p50: number; p99: number; errors: number };
  /** Four clients at once: throughput (latency includes queueing on the shared cores). */
  perSec: number;
  p50: number;
  p99: number;
  errors: number;
  leakCheck: { logins: number; errors: number; socketsBefore: number; socketsAfter: number; seconds: number };
}

export async function measureLdapLogins(base: string, gatewayPid: number, directory: BenchDirectory, durationSec: number): Promise<LdapLoginResult> {
  const body = JSON.stringify({ username: "bob", password: PEOPLE_SEED.bob.password });
  const request = { url: `${base}/gateway/login`, method: "POST" as const, headers: { "content-type": "application/json" }, body };
  await autocannon({ ...request, connections: 4, amount: 200 });
  const single = await autocannon({ ...request, connections: 1, duration: durationSec });
  const timed = await autocannon({ ...request, connections: 4, duration: durationSec });
  const port = directory.slapd.ldapsPort;
  // Let the warm-up's connections finish closing, then count what stays: the service connection.
  await new Promise((r) => setTimeout(r, 500));
  const socketsBefore = socketsTo(gatewayPid, port);
  const started = performance.now();
  // Bounded in count and in time.
  const loop = await autocannon({ ...request, connections: 8, amount: 10_000, duration: 120 });
  await new Promise((r) => setTimeout(r, 500));
  const socketsAfter = socketsTo(gatewayPid, port);
  return {
    sequential: { perSec: Math.round(single.requests.average), p50: single.latency.p50, p99: single.latency.p99, errors: single.errors + single.timeouts + single.non2xx },
    perSec: Math.round(timed.requests.average),
    p50: timed.latency.p50,
    p99: timed.latency.p99,
    errors: timed.errors + timed.timeouts + timed.non2xx,
    leakCheck: {
      logins: loop.requests.total,
      errors: loop.errors + loop.timeouts + loop.non2xx,
      socketsBefore,
      socketsAfter,
      seconds: Math.round((performance.now() - started) / 100) / 10,
    },
  };
}
