/**
 * `npm run bench`: one run that measures, with autocannon (keep-alive, 50 connections, bounded
 * duration, loopback only), the upstream directly, the gateway over HTTPS in front of it, and nginx
 * as a TLS proxy in front of the same upstream when nginx is on the PATH. Prints a table with each
 * figure's ratio to the direct run and to nginx, and writes bench/results/<date>.json.
 *
 * Fairness: the gateway runs one Node process (workers: 1) and nginx one worker process, so both
 * proxies get the same single core; the machine has two, shared with autocannon and the upstream.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import https from "node:https";
import autocannon from "autocannon";
import { createCa, issueCertificate } from "../src/tls/dev-ca.js";
import { MEMORY_FLAGS } from "../src/ops/memory-flags.js";
import { sessionMemory } from "./session-memory.js";
import { measureLdapLogins, startBenchDirectory, type BenchDirectory } from "./ldap-logins.js";

/** Seconds of one measured run. */
const DURATION = Number(process.env.BENCH_DURATION ?? 5);
/**
 * Each proxy row is measured this many times, the rows taking turns, and the median is reported: the
 * machine is shared, and a neighbour's burst during one row's single run moved ratios by ±30%.
 * Five rounds: with three, one bad round of two rows moved the bypass/nginx median from 0.67 to 0.58
 * between runs of the same build (single rounds ranged 0.49–0.82 that day).
 */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
/**
 * Seconds of load each target gets before the measured rounds. The gateway's JIT needs it: with a 2 s
 * warm-up its first round cost 184 µs of CPU per request and the next ones 131 and 140 (V8 was still
 * optimising, `--trace-opt` counted new optimisations for ~15 s of load); nginx has nothing to warm.
 * The three gateway rows share one process, so it gets three times this.
 */
const WARMUP = Number(process.env.BENCH_WARMUP ?? 5);
const CONNECTIONS = 50;
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "portcullis-bench-"));
const children: ChildProcess[] = [];
let directory: BenchDirectory | undefined;

interface Row {
  name: string;
  url: string;
  /** The median of the rounds. */
  requestsPerSec: number;
  /** Requests per second of each round. */
  rounds: number[];
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  /** Peak RSS of the measured process during this row's measured rounds (not its warm-up). */
  rssMb?: number;
  /** CPU time (user + system) the measured process and its children spent per request, median of the rounds. */
  cpuMicrosPerRequest?: number;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => {
        s.destroy();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on ${port} after ${timeoutMs} ms`);
}

function start(command: string, args: string[], name: string, env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const log = fs.openSync(path.join(work, `${name}.log`), "w");
  const child = spawn(command, args, { cwd: root, stdio: ["ignore", log, log], env });
  children.push(child);
  return child;
}

/** Peak resident memory of a process since it started or since the last `resetPeakRss`, from /proc (VmHWM). */
function peakRssMb(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]);
    return Math.round((kb / 1024) * 10) / 10;
  } catch {
    return undefined;
  }
}

/** The highest peak seen of each process over the whole run, whatever `resetPeakRss` did since. */
const runPeakMb = new Map<number, number>();

/**
 * Starts a new peak-RSS measurement for a process (Linux: "5" to /proc/PID/clear_refs sets VmHWM to
 * the current RSS), so that a row's peak is its own and not, say, the warm-up's or another row's. The
 * peak so far is kept in `runPeakMb` first. Where the reset is refused, peaks stay cumulative.
 */
function resetPeakRss(pid: number | undefined): void {
  if (pid === undefined) return;
  const peak = peakRssMb(pid);
  if (peak !== undefined) runPeakMb.set(pid, Math.max(runPeakMb.get(pid) ?? 0, peak));
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, "5");
  } catch {
    // Not permitted here: each row's figure then includes everything before it.
  }
}

/** The highest peak RSS of a process over the whole run. */
function runPeakRssMb(pid: number | undefined): number | undefined {
  const now = peakRssMb(pid);
  if (pid === undefined || now === undefined) return undefined;
  return Math.max(runPeakMb.get(pid) ?? 0, now);
}

/**
 * CPU time (user + system, µs) used so far by a process and its child processes (nginx's worker is a
 * child of its master). Less moved by neighbours than requests per second: it is the work a request
 * costs, not how much of the machine the process got.
 */
function cpuMicros(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const ticks = (p: number) => {
      const fields = fs.readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1]!.split(" ");
      return Number(fields[11]) + Number(fields[12]);
    };
    const children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
    // USER_HZ is 100 on Linux.
    return [pid, ...children].reduce((sum, p) => sum + ticks(p), 0) * 10_000;
  } catch {
    return undefined;
  }
}

const BENCH_PASSWORD = "bench-password-1";

async function login(base: string): Promise<string> {
  const res = await fetchInsecure(`${base}/gateway/login`, { username: "admin", password: BENCH_PASSWORD });
  const cookie = /portcullis_session=[^;]+/.exec(res.headers["set-cookie"]?.join(";") ?? "")?.[0];
  if (!cookie) throw new Error(`bench login failed: ${res.status} ${res.body}`);
  return cookie;
}

/** One HTTPS JSON POST that accepts the bench's self-made certificate. */
function fetchInsecure(url: string, body: unknown): Promise<{ status: number; headers: Record<string, string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: "POST", rejectUnauthorized: false, headers: { "content-type": "application/json" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: { "set-cookie": res.headers["set-cookie"] }, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

const LOGIN_USERS = ["bench1", "bench2", "bench3", "bench4"];

interface LoginRate {
  perSec: number;
  p50: number;
  p99: number;
  errors: number;
}

/**
 * Local logins per second over 4 connections: argon2id verification dominates, so a few saturate it.
 * `users` one name: every connection logs in as it, and that account's password checks run one at a
 * time (README "Behaviour worth knowing"). Four names: one per connection, as when several people
 * log in at once; the checks then share the argon2id slots (one per core).
 */
async function measureLogins(base: string, users: string[]): Promise<LoginRate> {
  let next = 0;
  const result = await autocannon({
    url: `${base}/gateway/login`,
    method: "POST",
    connections: 4,
    duration: Math.max(5, Math.floor(DURATION / 2)),
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: users[0], password: BENCH_PASSWORD }),
    setupClient: (client) => client.setBody(JSON.stringify({ username: users[next++ % users.length], password: BENCH_PASSWORD })),
  });
  return { perSec: Math.round(result.requests.average), p50: result.latency.p50, p99: result.latency.p99, errors: result.errors + result.timeouts + result.non2xx };
}

interface Target {
  name: string;
  url: string;
  pid?: number;
  headers?: Record<string, string>;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** Measures every target ROUNDS times, taking turns, after a warm-up of each (JIT, pools). */
async function measureRounds(targets: Target[]): Promise<Row[]> {
  for (const t of targets) await autocannon({ url: t.url, connections: CONNECTIONS, duration: WARMUP, headers: t.headers });
  const results = targets.map(() => [] as autocannon.Result[]);
  const cpu = targets.map(() => [] as number[]);
  const rss = targets.map(() => [] as number[]);
  for (let round = 0; round < ROUNDS; round++) {
    // Each round starts one row later, so that no row always follows the same neighbour.
    for (let k = 0; k < targets.length; k++) {
      const i = (k + round) % targets.length;
      const t = targets[i]!;
      resetPeakRss(t.pid);
      const before = cpuMicros(t.pid);
      const r = await autocannon({ url: t.url, connections: CONNECTIONS, duration: DURATION, pipelining: 1, headers: t.headers });
      const after = cpuMicros(t.pid);
      const peak = peakRssMb(t.pid);
      if (peak !== undefined) rss[i]!.push(peak);
      results[i]!.push(r);
      if (before !== undefined && after !== undefined && r.requests.total > 0) cpu[i]!.push((after - before) / r.requests.total);
      console.log(`round ${round + 1}/${ROUNDS} ${t.name}: ${Math.round(r.requests.average)} req/s`);
    }
  }
  return targets.map((t, i) => {
    const runs = results[i]!;
    return {
      name: t.name,
      url: t.url,
      requestsPerSec: Math.round(median(runs.map((r) => r.requests.average))),
      rounds: runs.map((r) => Math.round(r.requests.average)),
      p50: median(runs.map((r) => r.latency.p50)),
      p99: median(runs.map((r) => r.latency.p99)),
      errors: runs.reduce((n, r) => n + r.errors + r.timeouts, 0),
      non2xx: runs.reduce((n, r) => n + r.non2xx, 0),
      rssMb: rss[i]!.length > 0 ? Math.max(...rss[i]!) : undefined,
      cpuMicrosPerRequest: cpu[i]!.length > 0 ? Math.round(median(cpu[i]!)) : undefined,
    };
  });
}

function nginxAvailable(): string | null {
  for (const candidate of ["nginx", "/usr/sbin/nginx"]) {
    const r = spawnSync(candidate, ["-v"], { encoding: "utf8" });
    if (r.status === 0) return candidate;
  }
  return null;
}

async function main(): Promise<void> {
  if (!fs.existsSync(path.join(root, "dist/cli/index.js"))) {
    console.log("building dist/ first (npm run build)");
    spawnSync("npm", ["run", "build"], { cwd: root, stdio: "inherit" });
  }
  const ca = createCa("bench CA");
  const server = issueCertificate(ca, { hosts: ["127.0.0.1", "localhost"] });
  fs.writeFileSync(path.join(work, "server.pem"), server.cert + ca.cert);
  fs.writeFileSync(path.join(work, "server.key"), server.key);

  const upstreamPort = await freePort();
  const upstream = start(process.execPath, [path.join(root, "bench/upstream.mjs"), String(upstreamPort)], "upstream");
  await waitForPort(upstreamPort);

  // The gateway keeps its state in Redis, as in production (SPEC §11).
  const redisPort = await freePort();
  start("redis-server", ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", work], "redis");
  await waitForPort(redisPort);

  // A real slapd over ldaps for the LDAP login rows (issue #4).
  directory = await startBenchDirectory();

  const [secure, insecure, admin] = [await freePort(), await freePort(), await freePort()];
  const configFile = path.join(work, "portcullis.yaml");
  fs.writeFileSync(
    configFile,
    [
      `ports: { secure: ${secure}, insecure: ${insecure}, host: 127.0.0.1, admin: "127.0.0.1:${admin}" }`,
      `tls: { cert: ${path.join(work, "server.pem")}, key: ${path.join(work, "server.key")} }`,
      `upstream: { url: "http://127.0.0.1:${upstreamPort}" }`,
      `store: { redis: "redis://127.0.0.1:${redisPort}" }`,
      `access: { defaultPolicy: authenticated, rules: [{ paths: ["/public/**"], policy: bypass }] }`,
      // Logins in a loop by one user: the oldest sessions make room (the default would refuse at 1000).
      `session: { limitPolicy: evictOldest }`,
      // The login benchmark fails nobody, but keep the IP limit out of the way of the failure check.
      `regulation: { maxFailuresPerIp: "100000 per 1 minute" }`,
      `logging: { level: info }`,
      ...directory.configLines,
      "",
    ].join("\n"),
  );
  // BENCH_PROFILE=1 writes a CPU profile of the gateway to bench/results/ (read it before optimising).
  const profile = process.env.BENCH_PROFILE ? ["--cpu-prof", "--cpu-prof-dir", path.join(root, "bench/results")] : [];
  // MALLOC_MMAP_THRESHOLD_ as `npm start` and the Dockerfile set it: argon2id's 19 MiB blocks are
  // returned to the system after each hash instead of staying in glibc's arenas (README "Memory").
  const gatewayEnv = { ...process.env, PORTCULLIS_ADMIN_PASSWORD: BENCH_PASSWORD, MALLOC_MMAP_THRESHOLD_: "131072" };
  const gateway = start(process.execPath, [...profile, path.join(root, "dist/cli/index.js"), "serve", "--config", configFile], "gateway", gatewayEnv);
  await waitForPort(secure);
  const base = `https://127.0.0.1:${secure}`;
  const cookie = await login(base);
  // The accounts of the several-people login row, imported as `portcullis users import` does it
  // (after the first start: the admin account is only made in an empty store).
  const usersFile = path.join(work, "users.json");
  fs.writeFileSync(usersFile, JSON.stringify(LOGIN_USERS.map((name) => ({ name, password: BENCH_PASSWORD }))));
  const imported = spawnSync(process.execPath, [path.join(root, "dist/cli/index.js"), "users", "import", usersFile, "--config", configFile], { encoding: "utf8" });
  if (imported.status !== 0) throw new Error(`users import failed: ${imported.stderr}`);

  const targets: Target[] = [
    { name: "upstream direct (http)", url: `http://127.0.0.1:${upstreamPort}/`, pid: upstream.pid },
    { name: "portcullis bypass route", url: `${base}/public/x`, pid: gateway.pid },
    { name: "portcullis session cookie", url: `${base}/app`, pid: gateway.pid, headers: { cookie } },
    { name: "portcullis Basic user:password", url: `${base}/app`, pid: gateway.pid, headers: { authorization: `Basic ${Buffer.from(`admin:${BENCH_PASSWORD}`).toString("base64")}` } },
  ];
  // BENCH_BASELINE=<another checkout, built>: the same rows through that build as well, in the same
  // rounds, for an A/B of a change (same upstream, Redis and accounts; its own ports).
  const baseline = process.env.BENCH_BASELINE;
  if (baseline) {
    const [bSecure, bInsecure, bAdmin] = [await freePort(), await freePort(), await freePort()];
    const bConfig = path.join(work, "baseline.yaml");
    fs.writeFileSync(bConfig, fs.readFileSync(configFile, "utf8").replace(/^ports: .*$/m, `ports: { secure: ${bSecure}, insecure: ${bInsecure}, host: 127.0.0.1, admin: "127.0.0.1:${bAdmin}" }`));
    const b = start(process.execPath, [path.join(path.resolve(baseline), "dist/cli/index.js"), "serve", "--config", bConfig], "baseline", gatewayEnv);
    await waitForPort(bSecure);
    const bBase = `https://127.0.0.1:${bSecure}`;
    targets.push(
      { name: "baseline bypass route", url: `${bBase}/public/x`, pid: b.pid },
      { name: "baseline session cookie", url: `${bBase}/app`, pid: b.pid, headers: { cookie: await login(bBase) } },
    );
  }
  const nginx = nginxAvailable();
  if (nginx) {
    const nginxPort = await freePort();
    const conf = path.join(work, "nginx.conf");
    fs.writeFileSync(
      conf,
      `worker_processes 1;
pid ${work}/nginx.pid;
error_log ${work}/nginx-error.log warn;
daemon off;
events { worker_connections 1024; }
http {
  access_log ${work}/nginx-access.log;
  client_body_temp_path ${work}/body;
  proxy_temp_path ${work}/proxy;
  fastcgi_temp_path ${work}/fastcgi;
  uwsgi_temp_path ${work}/uwsgi;
  scgi_temp_path ${work}/scgi;
  upstream app { server 127.0.0.1:${upstreamPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${nginxPort} ssl;
    ssl_certificate ${work}/server.pem;
    ssl_certificate_key ${work}/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto https;
    }
  }
}
`,
    );
    const n = start(nginx, ["-c", conf, "-p", work], "nginx");
    await waitForPort(nginxPort);
    targets.push({ name: "nginx TLS proxy", url: `https://127.0.0.1:${nginxPort}/`, pid: n.pid });
  } else {
    console.log("nginx is not on the PATH: the nginx comparison is skipped (apt-get install nginx to include it)");
  }
  // The floor: Node's HTTPS server and undici with nothing of the gateway around them, on the same V8
  // flags as the gateway (bench/bare-proxy.mjs).
  const barePort = await freePort();
  const bare = start(
    process.execPath,
    [...MEMORY_FLAGS, path.join(root, "bench/bare-proxy.mjs"), String(barePort), String(upstreamPort), path.join(work, "server.pem"), path.join(work, "server.key")],
    "bare-proxy",
  );
  await waitForPort(barePort);
  targets.push({ name: "bare Node+undici proxy", url: `https://127.0.0.1:${barePort}/`, pid: bare.pid });

  const rows = await measureRounds(targets);
  // The whole run so far: start, warm-ups (the Basic row's first request hashes with argon2id) and rounds.
  const rssProxyRunMb = runPeakRssMb(gateway.pid);
  const logins = await measureLogins(base, LOGIN_USERS);
  const oneAccountLogins = await measureLogins(base, ["admin"]);
  const ldapLogins = await measureLdapLogins(base, gateway.pid!, directory, Math.max(5, Math.floor(DURATION / 2)));

  const rssWithLoginsMb = runPeakRssMb(gateway.pid);
  const direct = rows[0]!;
  const nginxRow = rows.find((r) => r.name.startsWith("nginx"));
  const bypass = rows[1]!;
  const bareRow = rows.find((r) => r.name.startsWith("bare"))!;
  const table = rows.map((r) => ({
    run: r.name,
    "req/s": r.requestsPerSec,
    "p50 ms": r.p50,
    "p99 ms": r.p99,
    errors: r.errors + r.non2xx,
    "RSS MB": r.rssMb ?? "",
    "CPU µs/req": r.cpuMicrosPerRequest ?? "",
    "× direct": (r.requestsPerSec / direct.requestsPerSec).toFixed(2),
    "× bypass": (r.requestsPerSec / bypass.requestsPerSec).toFixed(2),
    "× nginx": nginxRow ? (r.requestsPerSec / nginxRow.requestsPerSec).toFixed(2) : "",
    "p99 × nginx": nginxRow ? (r.p99 / Math.max(nginxRow.p99, 1)).toFixed(2) : "",
  }));
  console.table(table);
  console.log(`local logins, four accounts: ${logins.perSec}/s, p50 ${logins.p50} ms, p99 ${logins.p99} ms, errors ${logins.errors} (target ≥ 20/s)`);
  console.log(`local logins, one account (its checks run one at a time): ${oneAccountLogins.perSec}/s, p50 ${oneAccountLogins.p50} ms, p99 ${oneAccountLogins.p99} ms, errors ${oneAccountLogins.errors}`);
  console.log(
    `gateway peak RSS over the whole run: ${rssProxyRunMb} MB up to the end of the proxy rows (start, warm-ups, the Basic row's first argon2id hash), ` +
      `${rssWithLoginsMb} MB with the login runs (argon2id: 19 MiB per hash, one hash per core at a time)`,
  );
  const leak = ldapLogins.leakCheck;
  const one = ldapLogins.sequential;
  console.log(`LDAP logins (ldaps, slapd on loopback), one client: ${one.perSec}/s, p50 ${one.p50} ms, p99 ${one.p99} ms, errors ${one.errors} (target p50 < 15 ms)`);
  console.log(`LDAP logins, four clients: ${ldapLogins.perSec}/s, p50 ${ldapLogins.p50} ms, p99 ${ldapLogins.p99} ms, errors ${ldapLogins.errors}`);
  console.log(`LDAP socket check: ${leak.logins} logins (${leak.errors} errors) in ${leak.seconds} s; gateway sockets to slapd before ${leak.socketsBefore}, after ${leak.socketsAfter} (target: no growth)`);

  const sessionRow = rows.find((r) => r.name.includes("session cookie"))!;
  const basicRow = rows.find((r) => r.name.includes("Basic"))!;
  const memory = await sessionMemory(redisPort);
  console.log(`Redis memory per idle session: ${memory.bytesPerSession} bytes over ${memory.sessions} sessions (target < 512)`);
  // The RSS target is the gateway's under proxy load: the highest of its rows' peaks (null where /proc
  // could not tell). The whole run's peaks, warm-ups and argon2id hashes included, are reported beside it.
  const gatewayPeaks = rows.filter((r) => r.name.startsWith("portcullis")).map((r) => r.rssMb);
  const gatewayRssMb = gatewayPeaks.every((p) => p !== undefined) ? Math.max(...(gatewayPeaks as number[])) : null;
  const verdict = {
    throughputVsNginx: nginxRow ? bypass.requestsPerSec / nginxRow.requestsPerSec : null,
    p99VsNginx: nginxRow ? bypass.p99 / Math.max(nginxRow.p99, 1) : null,
    // Not a target: how much more CPU a request costs through the gateway than through nginx.
    cpuPerRequestVsNginx: nginxRow?.cpuMicrosPerRequest && bypass.cpuMicrosPerRequest ? bypass.cpuMicrosPerRequest / nginxRow.cpuMicrosPerRequest : null,
    // Not a target either: the gateway against Node and undici alone (bench/bare-proxy.mjs).
    throughputVsBareProxy: bypass.requestsPerSec / bareRow.requestsPerSec,
    bareProxyVsNginx: nginxRow ? bareRow.requestsPerSec / nginxRow.requestsPerSec : null,
    sessionVsBypass: sessionRow.requestsPerSec / bypass.requestsPerSec,
    basicVsBypass: basicRow.requestsPerSec / bypass.requestsPerSec,
    loginsPerSec: logins.perSec,
    oneAccountLoginsPerSec: oneAccountLogins.perSec,
    ldapLoginP50Ms: ldapLogins.sequential.p50,
    ldapSocketGrowth: leak.socketsAfter - leak.socketsBefore,
    bytesPerIdleSession: memory.bytesPerSession,
    rssMb: gatewayRssMb,
    rssProxyRunMb: rssProxyRunMb ?? null,
    rssWithLoginsMb: rssWithLoginsMb ?? null,
    targets: { throughputVsNginx: ">= 0.6", p99VsNginx: "<= 3", sessionVsBypass: ">= 0.85", basicVsBypass: ">= 0.85", loginsPerSec: ">= 20", ldapLoginP50Ms: "< 15", ldapSocketGrowth: "<= 0", bytesPerIdleSession: "< 512", errors: 0, rssMb: "< 150" },
  };
  if (verdict.throughputVsNginx !== null) {
    console.log(`gateway (bypass)/nginx throughput ${verdict.throughputVsNginx.toFixed(2)} (target ≥ 0.6), p99 ${verdict.p99VsNginx!.toFixed(2)}× (target ≤ 3)`);
  }
  console.log(
    `gateway RSS under proxy load ${gatewayRssMb ?? "not measured (no /proc)"} MB (target < 150); whole run: ${rssProxyRunMb ?? "?"} MB up to the end of the proxy rows, ${rssWithLoginsMb ?? "?"} MB with the login runs`,
  );
  if (verdict.cpuPerRequestVsNginx !== null) console.log(`CPU per request: gateway (bypass) ${bypass.cpuMicrosPerRequest} µs, nginx ${nginxRow!.cpuMicrosPerRequest} µs (${verdict.cpuPerRequestVsNginx.toFixed(1)}×)`);
  console.log(
    `gateway (bypass)/bare Node+undici proxy throughput ${verdict.throughputVsBareProxy.toFixed(2)}, CPU per request ${bypass.cpuMicrosPerRequest} vs ${bareRow.cpuMicrosPerRequest} µs` +
      (verdict.bareProxyVsNginx !== null ? `; the bare proxy reaches ${verdict.bareProxyVsNginx.toFixed(2)}× nginx` : ""),
  );
  console.log(`session/bypass ${verdict.sessionVsBypass.toFixed(2)}, Basic/bypass ${verdict.basicVsBypass.toFixed(2)} (target ≥ 0.85)`);
  const baselineBypass = rows.find((r) => r.name === "baseline bypass route");
  const baselineSession = rows.find((r) => r.name === "baseline session cookie");
  if (baselineBypass && baselineSession) {
    console.log(
      `this build ÷ baseline: bypass ${(bypass.requestsPerSec / baselineBypass.requestsPerSec).toFixed(2)} req/s (rounds ${perRoundOf(bypass, baselineBypass)}), ` +
        `session ${(sessionRow.requestsPerSec / baselineSession.requestsPerSec).toFixed(2)} req/s (rounds ${perRoundOf(sessionRow, baselineSession)}); ` +
        `CPU µs/req bypass ${bypass.cpuMicrosPerRequest} vs ${baselineBypass.cpuMicrosPerRequest}, session ${sessionRow.cpuMicrosPerRequest} vs ${baselineSession.cpuMicrosPerRequest}`,
    );
  }
  const perRound = perRoundOf;
  console.log(
    `ratios round by round: bypass/nginx ${nginxRow ? perRound(bypass, nginxRow) : "-"}; bypass/bare ${perRound(bypass, bareRow)}; session/bypass ${perRound(sessionRow, bypass)}; Basic/bypass ${perRound(basicRow, bypass)}`,
  );
  const out = path.join(root, "bench/results", `${new Date().toISOString().slice(0, 10)}.json`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(
    out,
    JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, durationSec: DURATION, rounds: ROUNDS, connections: CONNECTIONS, rows, logins, oneAccountLogins, rssProxyRunMb, rssWithLoginsMb, ldapLogins, memory, verdict }, null, 2),
  );
  console.log(`written ${path.relative(root, out)}`);
}

/** Each round's rows ran minutes apart at most: the spread of these shows how much the machine moved. */
function perRoundOf(a: Row, b: Row): string {
  return a.rounds.map((v, i) => (v / b.rounds[i]!).toFixed(2)).join(" ");
}

async function cleanup(): Promise<void> {
  for (const c of children) c.kill("SIGTERM");
  // Let the gateway finish its graceful stop (and write its profile) before the temp dir goes.
  await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once("exit", r)))));
  await directory?.stop();
  fs.rmSync(work, { recursive: true, force: true });
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(cleanup);
