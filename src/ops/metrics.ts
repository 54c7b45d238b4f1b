/** Prometheus metrics of the gateway (prom-client), served on the admin listener. */
import client from "prom-client";

export interface Metrics {
  registry: client.Registry;
  /** Counts one finished request and its latency. */
  observe(route: string, status: number, seconds: number): void;
  upstreamErrors: client.Counter<"kind">;
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** One route's tallies: requests by status class (index 1: 1xx … 5: 5xx) and latencies by bucket. */
interface RouteTally {
  byStatus: number[];
  /** Observations per bucket (not cumulative); the last slot is above the largest bound (+Inf). */
  buckets: number[];
  sum: number;
  count: number;
}

type MetricValue = { value: number; labels: Record<string, string | number>; metricName?: string };

/**
 * A metric that prom-client's registry reads when scraped (it asks for `get()` and formats the
 * values as its own metrics'). prom-client's Counter and Histogram hash their labels on every
 * observation: with one of each per request that was 1–2% of a proxied request's CPU (profile,
 * README "Benchmark"); the tallies behind these are plain arrays, turned into values only here.
 */
function scrapedMetric(name: string, help: string, type: "counter" | "histogram", values: () => MetricValue[]): client.Metric {
  const metric = {
    name,
    help,
    type,
    aggregator: "sum" as const,
    get: async () => ({ name: metric.name, help, type, aggregator: "sum" as const, values: values() }),
  };
  return metric as unknown as client.Metric;
}

export function createMetrics(): Metrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: "portcullis_" });
  // Route names are a small fixed set ("proxy", "gateway:healthz", "router:redirect"…).
  const routes = new Map<string, RouteTally>();
  registry.registerMetric(
    scrapedMetric("portcullis_requests_total", "Requests answered, by route class and status class", "counter", () => {
      const out: MetricValue[] = [];
      for (const [route, t] of routes) {
        t.byStatus.forEach((n, i) => n > 0 && out.push({ value: n, labels: { route, status: `${i}xx` } }));
      }
      return out;
    }),
  );
  const latencyName = "portcullis_request_duration_seconds";
  registry.registerMetric(
    scrapedMetric(latencyName, "Time from request arrival to the end of the answer", "histogram", () => {
      const out: MetricValue[] = [];
      for (const [route, t] of routes) {
        let cumulative = 0;
        LATENCY_BUCKETS.forEach((le, i) => {
          cumulative += t.buckets[i]!;
          out.push({ value: cumulative, labels: { le, route }, metricName: `${latencyName}_bucket` });
        });
        out.push({ value: t.count, labels: { le: "+Inf", route }, metricName: `${latencyName}_bucket` });
        out.push({ value: t.sum, labels: { route }, metricName: `${latencyName}_sum` });
        out.push({ value: t.count, labels: { route }, metricName: `${latencyName}_count` });
      }
      return out;
    }),
  );
  const upstreamErrors = new client.Counter({
    name: "portcullis_upstream_errors_total",
    help: "Upstream failures by kind (unreachable, timeout, aborted mid-response)",
    labelNames: ["kind"] as const,
    registers: [registry],
  });
  return {
    registry,
    upstreamErrors,
    observe(route, status, seconds) {
      const r = route || "none";
      let t = routes.get(r);
      if (t === undefined) {
        t = { byStatus: new Array<number>(10).fill(0), buckets: new Array<number>(LATENCY_BUCKETS.length + 1).fill(0), sum: 0, count: 0 };
        routes.set(r, t);
      }
      // Node keeps status codes within 100–999.
      t.byStatus[Math.floor(status / 100) % 10]!++;
      let b = 0;
      while (b < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[b]!) b++;
      t.buckets[b]!++;
      t.sum += seconds;
      t.count++;
    },
  };
}
