// The benchmark's upstream: a minimal HTTP server with a small fixed answer, as cheap as Node allows.
import http from "node:http";

const port = Number(process.argv[2] ?? 4080);
const body = Buffer.from(JSON.stringify({ ok: true, message: "hello from the benchmark upstream" }));
http
  .createServer((req, res) => {
    req.resume();
    res.writeHead(200, { "content-type": "application/json", "content-length": body.length });
    res.end(body);
  })
  .listen(port, "127.0.0.1");
