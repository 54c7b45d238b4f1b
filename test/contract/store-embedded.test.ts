import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createEmbeddedStore } from "../../src/store/embedded/embedded-store.js";
import { runStoreContract } from "./store-contract.js";

const dirs: string[] = [];
runStoreContract("embedded", {
  async create() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "portcullis-store-"));
    dirs.push(dir);
    return createEmbeddedStore({ dataDir: dir, flushDelayMs: 10 });
  },
  async cleanup() {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  },
});
