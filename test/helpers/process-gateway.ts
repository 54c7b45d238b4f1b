/**
 * A gateway as a separate PROCESS, the way an operator runs it: `node --import tsx src/cli/index.ts
 * serve --config <yaml>` with a config written to a temp dir, free loopback ports, its stdout (pino
 * JSON lines) captured, ready once its secure port answers /gateway/healthz, stopped with SIGTERM.
 * Also runs other CLI commands (`users add`) against the same config.
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import type { TestPki } from "./certs.js";
import { cliEnv, waitForExit } from "./cli.js";
import { deepMerge } from "./gateway.js";
import { freePorts } from "./redis.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const CLI_ENTRY = path.join(root, "src/cli/index.ts");
/** tsx resolved from the repository, so the child starts from a working directory outside it. */
const TSX = import.meta.resolve("tsx");

export interface HttpsAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json<T = Record<string, unknown>>(): T;
}

export interface ProcessGatewayOptions {
  /** A label for error messages ("A", "B"). */
  name: string;
  pki: TestPki;
  /** Config keys merged over the base (ports, tls, logging and shutdown grace are filled in). */
  settings: Record<string, unknown>;
  /** PORTCULLIS_ADMIN_PASSWORD for the first run (default "admin-password-1"); false leaves it unset. */
  adminPassword?: string | false;
  /** Extra environment (PORTCULLIS_* overrides). */
  env?: Record<string, string>;
  /** How long to wait for /gateway/healthz (default and maximum 20 s). */
  readyTimeoutMs?: number;
}

export interface ProcessGateway {
  name: string;
  child: ChildProcess;
  dir: string;
  configFile: string;
  securePort: number;
  insecurePort: number;
  adminPort: number;
  /** Every stdout line so far that parsed as JSON (pino). */
  logs(): Record<string, unknown>[];
  stdout(): string;
  stderr(): string;
  /** Waits (bounded) for a log line matching `predicate`; resolves with it or null on timeout. */
  waitForLog(predicate: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown> | null>;
  /** An HTTPS request to the secure port, trusting the test CA (servername localhost). */
  https(urlPath: string, options?: https.RequestOptions & { body?: string; timeoutMs?: number }): Promise<HttpsAnswer>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with how it ended. Safe to call twice. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; killed: boolean }>;
}

/** The clean child environment of the CLI tests (no PORTCULLIS_* or test-runner plumbing). */
export const childEnv = cliEnv;

export function httpsRequest(port: number, ca: string, urlPath: string, options: https.RequestOptions & { body?: string; timeoutMs?: number } = {}): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const { body, timeoutMs = 5_000, ...rest } = options;
    const req = https.request({ host: "127.0.0.1", port, path: urlPath, agent: false, ca, servername: "localhost", ...rest }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json: () => JSON.parse(text) });
      });
      res.on("error", reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer to ${urlPath} on ${port} within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}


/** Writes the config for a process gateway; returns the file and the ports it names. */
export async function writeProcessConfig(pki: TestPki, settings: Record<string, unknown>, name = "gw") {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `portcullis-proc-${name.toLowerCase()}-`));
  const [securePort, insecurePort, adminPort] = await freePorts(3);
  const server = pki.issue(`server-${name.toLowerCase()}-${Math.random().toString(36).slice(2, 8)}`);
  const base: Record<string, unknown> = {
    ports: { host: "127.0.0.1", secure: securePort, insecure: insecurePort, admin: `127.0.0.1:${adminPort}` },
    tls: { cert: server.certFile, key: server.keyFile },
    store: { dataDir: path.join(dir, "data") },
    logging: { level: "info" },
    limits: { shutdownGrace: "2 seconds" },
  };
  const configFile = path.join(dir, "portcullis.yaml");
  fs.writeFileSync(configFile, YAML.stringify(deepMerge(base, settings)));
  return { dir, configFile, securePort, insecurePort, adminPort };
}

export async function startProcessGateway(o: ProcessGatewayOptions): Promise<ProcessGateway> {
  const { dir, configFile, securePort, insecurePort, adminPort } = await writeProcessConfig(o.pki, o.settings, o.name);
  const env = childEnv({ ...(o.adminPassword === false ? {} : { PORTCULLIS_ADMIN_PASSWORD: o.adminPassword ?? "admin-password-1" }), ...o.env });
  const child = spawn(process.execPath, ["--import", TSX, CLI_ENTRY, "serve", "--config", configFile], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  const parsed: Record<string, unknown>[] = [];
  let partial = "";
  const waiters = new Set<() => void>();
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
    partial += chunk;
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      if (!line.trim()) continue;
      try {
        parsed.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        /* not a log line */
      }
    }
    for (const w of waiters) w();
  });
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));

  const ca = o.pki.ca.cert;
  const gw: ProcessGateway = {
    name: o.name,
    child,
    dir,
    configFile,
    securePort,
    insecurePort,
    adminPort,
    logs: () => parsed,
    stdout: () => stdout,
    stderr: () => stderr,
    waitForLog(predicate, timeoutMs = 3_000) {
      const found = parsed.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve) => {
        const check = () => {
          const hit = parsed.find(predicate);
          if (hit) done(hit);
        };
        const done = (value: Record<string, unknown> | null) => {
          clearTimeout(timer);
          waiters.delete(check);
          resolve(value);
        };
        const timer = setTimeout(() => done(null), timeoutMs);
        waiters.add(check);
      });
    },
    https: (urlPath, options) => httpsRequest(securePort, ca, urlPath, options),
    async stop(graceMs = 8_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return waitForExit(child, graceMs);
    },
  };

  // Ready once the secure port answers /gateway/healthz (bounded; the child's death ends the wait).
  const timeoutMs = Math.min(o.readyTimeoutMs ?? 20_000, 20_000);
  const deadline = Date.now() + timeoutMs;
  let died = false;
  void exited.then(() => (died = true));
  let lastError = "";
  while (Date.now() < deadline && !died) {
    try {
      const res = await httpsRequest(securePort, ca, "/gateway/healthz", { timeoutMs: 1_000 });
      if (res.status === 200) return gw;
      lastError = `status ${res.status}`;
    } catch (err) {
      lastError = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await gw.stop(2_000);
  throw new Error(
    `gateway process ${o.name} ${died ? `exited (code ${child.exitCode}, signal ${child.signalCode})` : `did not answer /gateway/healthz within ${timeoutMs} ms (${lastError})`}\n` +
      `--- stderr ---\n${stderr.slice(-4000)}\n--- stdout ---\n${stdout.slice(-4000)}`,
  );
}

/** Runs `portcullis <args>` (e.g. `users add bob -c <config>`) with `stdin` piped in; bounded. */
export function runCliCommand(args: string[], options: { cwd: string; stdin?: string; env?: Record<string, string>; timeoutMs?: number }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", TSX, CLI_ENTRY, ...args], { cwd: options.cwd, env: childEnv(options.env), stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr!.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 30_000);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin!.end(options.stdin ?? "");
  });
}
