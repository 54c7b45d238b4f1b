/** Starts a real gateway on port 0 with certificates made by the test, and clients that talk to it. */
import https from "node:https";
import http from "node:http";
import { Writable } from "node:stream";
import { validate } from "../../src/config/load.js";
import { createLogger } from "../../src/log/logger.js";
import path from "node:path";
import type { Clock } from "../../src/clock.js";
import { startGateway, type Gateway } from "../../src/main.js";
import type { Store } from "../../src/store/store.js";
import { makePki, type TestPki } from "./certs.js";

export interface LogSink {
  lines: Record<string, unknown>[];
}

export interface TestGateway {
  gateway: Gateway;
  pki: TestPki;
  logs: LogSink;
  securePort: number;
  insecurePort: number;
  adminPort: number;
  /** An HTTPS request to the secure listener, trusting the test CA. */
  https(path: string, options?: https.RequestOptions & { body?: string }): Promise<TestResponse>;
  /** A plaintext request to the insecure listener. */
  http(path: string, options?: http.RequestOptions & { body?: string }): Promise<TestResponse>;
  close(): Promise<void>;
}

export interface TestResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json<T = Record<string, unknown>>(): T;
}

export function memoryLog(): { sink: LogSink; destination: Writable } {
  const sink: LogSink = { lines: [] };
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString("utf8").split("\n")) if (line.trim()) sink.lines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { sink, destination };
}

export function request(
  mod: typeof http | typeof https,
  port: number,
  path: string,
  options: (http.RequestOptions & https.RequestOptions & { body?: string }) = {},
): Promise<TestResponse> {
  return new Promise((resolve, reject) => {
    const { body, ...rest } = options;
    const req = mod.request({ host: "127.0.0.1", port, path, agent: false, ...rest }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json: () => JSON.parse(text) });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** Starts a gateway with `overrides` merged over a test config (upstream, certificates, quiet logs). */
export interface TestGatewayOptions {
  pki?: TestPki;
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
  store?: Store;
  /** The first-run admin's password (default "admin-password-1"), or false for no admin. */
  adminPassword?: string | false;
  /** Start the sweep timers (default false: tests call gateway.scheduler.runDue with a moved clock). */
  schedule?: boolean;
}

export async function startTestGateway(overrides: Record<string, unknown> = {}, options: TestGatewayOptions = {}): Promise<TestGateway> {
  const pki = options.pki ?? makePki();
  const server = pki.issue(`server-${Math.random().toString(36).slice(2, 8)}`);
  // Proxy mechanics are tested with bypass as the default policy; auth tests set their own.
  const base: Record<string, unknown> = {
    tls: { cert: server.certFile, key: server.keyFile },
    logging: { level: "debug" },
    access: { defaultPolicy: "bypass" },
    store: { dataDir: path.join(pki.dir, `store-${Math.random().toString(36).slice(2, 8)}`) },
  };
  const raw = deepMerge(base, overrides);
  const config = validate(raw, options.env ?? {});
  const { sink, destination } = memoryLog();
  const log = createLogger({ level: config.logging.level, destination });
  const gateway = await startGateway(config, {
    log,
    ports: { secure: 0, insecure: 0, admin: 0 },
    clock: options.clock,
    store: options.store,
    adminPassword: options.adminPassword ?? "admin-password-1",
    schedule: options.schedule ?? false,
    print: () => undefined,
  });
  const securePort = gateway.port("secure");
  const insecurePort = gateway.port("insecure");
  return {
    gateway,
    pki,
    logs: sink,
    securePort,
    insecurePort,
    adminPort: gateway.port("admin"),
    https: (path, o = {}) => request(https, securePort, path, { ca: pki.ca.cert, servername: "localhost", ...o }),
    http: (path, o = {}) => request(http, insecurePort, path, o),
    async close() {
      await gateway.close();
      if (!options.pki) pki.cleanup();
    },
  };
}

export function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = v && typeof v === "object" && !Array.isArray(v) && prev && typeof prev === "object" && !Array.isArray(prev)
      ? deepMerge(prev as Record<string, unknown>, v as Record<string, unknown>)
      : v;
  }
  return out;
}
