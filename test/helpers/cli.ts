/** Runs the `portcullis` command line as a child process, the way an operator would. */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
/** The CLI's entry point, run through tsx as `npm run dev` does. */
export const CLI_ENTRY = path.join(root, "src/cli/index.ts");
/** tsx resolved from the repository, so that the CLI also starts from a working directory outside it. */
const TSX = import.meta.resolve("tsx");

export interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Working directory; the default config path config/portcullis.yaml is resolved from it. */
  cwd: string;
  /** Extra environment variables (PORTCULLIS_* overrides); the caller's PORTCULLIS_* are never passed on. */
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Standard input (passwords for `users add`, one per line). */
  input?: string;
}

/** The test process's environment without any PORTCULLIS_* variable or test-runner plumbing, plus `extra`. */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith("PORTCULLIS_") || k === "NODE_TEST_CONTEXT" || k === "NODE_OPTIONS") continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

function argv(args: string[]): string[] {
  return ["--import", TSX, CLI_ENTRY, ...args];
}

/** Runs `portcullis <args>` to completion and captures its output and exit status. */
export function runCli(args: string[], options: CliOptions): CliResult {
  const result = spawnSync(process.execPath, argv(args), {
    cwd: options.cwd,
    env: cliEnv(options.env),
    encoding: "utf8",
    input: options.input ?? "",
    timeout: options.timeoutMs ?? 30_000,
    killSignal: "SIGKILL",
  });
  if (result.error) throw result.error;
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

/** Starts `portcullis <args>` without waiting (for `serve`); the caller must kill it. */
export function spawnCli(args: string[], options: Omit<CliOptions, "timeoutMs">): ChildProcess & { output(): { stdout: string; stderr: string } } {
  const child = spawn(process.execPath, argv(args), { cwd: options.cwd, env: cliEnv(options.env), stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (c: string) => (stdout += c));
  child.stderr!.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  return Object.assign(child, { output: () => ({ stdout, stderr }) });
}

/** Waits for a child to exit, killing it with SIGKILL after `ms`; resolves with how it ended and how long it took. */
export function waitForExit(child: ChildProcess, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; killed: boolean; elapsedMs: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode, killed: false, elapsedMs: 0 });
      return;
    }
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill("SIGKILL");
    }, ms);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, killed, elapsedMs: Date.now() - started });
    });
  });
}

/** A fresh, empty temporary directory. */
export function tempDir(prefix = "portcullis-cli-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}
