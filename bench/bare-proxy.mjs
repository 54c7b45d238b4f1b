// The benchmark's floor: the least a Node TLS proxy can do with the gateway's parts — Node's HTTPS
// server and an undici Pool driven through its dispatcher, as src/proxy/http-forward.ts drives it —
// and nothing else: no header hygiene, no policy, no logging, no metrics. Not a product; it shows how
// much of the distance to nginx is Node's and undici's own, and how much is the gateway's.
// Usage: node bare-proxy.mjs PORT UPSTREAM_PORT CERT KEY
import fs from "node:fs";
import https from "node:https";
import { Pool } from "undici";

const [port, upstreamPort, cert, key] = process.argv.slice(2);
const pool = new Pool(`http://127.0.0.1:${upstreamPort}`, { connections: 256, pipelining: 1, keepAliveTimeout: 4_000 });

https
  .createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, (req, res) => {
    // The last body chunk goes out with `end`, as the gateway sends a one-piece body with its head.
    let held = null;
    pool.dispatch(
      { path: req.url, method: req.method, headers: req.headers },
      {
        onConnect() {},
        onHeaders(status, raw) {
          const headers = [];
          for (let i = 0; i < raw.length; i += 2) headers.push(raw[i].toString("latin1"), raw[i + 1].toString("latin1"));
          res.writeHead(status, headers);
          return true;
        },
        onData(chunk) {
          if (held) res.write(held);
          held = chunk;
          return true;
        },
        onComplete() {
          if (held) res.end(held);
          else res.end();
        },
        onError() {
          res.destroy();
        },
      },
    );
  })
  .listen(Number(port), "127.0.0.1");
