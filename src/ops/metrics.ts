/** Prometheus metrics of the gateway (prom-client), served on the admin listener. */
import client from "prom-client";

export interface Metrics {
  registry: client.Registry;
  /** Counts one finished request and its latency. */
  observe(route: string, status: number, seconds: number): void;
  upstreamErrors: client.Counter<"kind">;
}

export function createMetrics(): Metrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: "portcullis_" });
  const requests = new client.Counter({
    name: "portcullis_requests_total",
    help: "Requests answered, by route class and status class",
    labelNames: ["route", "status"] as const,
    registers: [registry],
  });
  const latency = new client.Histogram({
    name: "portcullis_request_duration_seconds",
    help: "Time from request arrival to the end of the answer",
    labelNames: ["route"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const upstreamErrors = new client.Counter({
    name: "portcullis_upstream_errors_total",
    help: "Upstream failures by kind (unreachable, timeout, aborted mid-response)",
    labelNames: ["kind"] as const,
    registers: [registry],
  });
  // Route names are a small fixed set ("proxy", "gateway:healthz", "router:redirect"…), so the
  // labelled children are cached: prom-client would otherwise hash the labels on every request.
  const children = new Map<string, { count: client.Counter.Internal; time: client.Histogram.Internal<"route"> }>();
  return {
    registry,
    upstreamErrors,
    observe(route, status, seconds) {
      const r = route || "none";
      const statusClass = `${Math.floor(status / 100)}xx`;
      const key = `${r} ${statusClass}`;
      let child = children.get(key);
      if (!child) {
        child = { count: requests.labels(r, statusClass), time: latency.labels(r) };
        children.set(key, child);
      }
      child.count.inc();
      child.time.observe(seconds);
    },
  };
}
