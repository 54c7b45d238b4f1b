import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createMetrics } from "../../src/ops/metrics.js";

describe("request metrics", () => {
  it("exposes request counts by route and status class, and cumulative latency buckets with sum and count", async () => {
    const metrics = createMetrics();
    metrics.observe("proxy", 200, 0.0004);
    metrics.observe("proxy", 204, 0.003);
    metrics.observe("proxy", 502, 12);
    metrics.observe("gateway:not-found", 404, 0.001);
    metrics.observe("", 200, 0.02);
    metrics.upstreamErrors.inc({ kind: "timeout" });
    const text = await metrics.registry.metrics();
    const line = (re: RegExp) => assert.match(text, re, `${re} in\n${text}`);
    line(/^# TYPE portcullis_requests_total counter$/m);
    line(/^portcullis_requests_total\{route="proxy",status="2xx"\} 2$/m);
    line(/^portcullis_requests_total\{route="proxy",status="5xx"\} 1$/m);
    line(/^portcullis_requests_total\{route="gateway:not-found",status="4xx"\} 1$/m);
    line(/^portcullis_requests_total\{route="none",status="2xx"\} 1$/m);
    assert.doesNotMatch(text, /status="3xx"/);
    line(/^# TYPE portcullis_request_duration_seconds histogram$/m);
    // 0.001 is in the le="0.001" bucket (upper bounds are inclusive); 12 s only in +Inf.
    line(/^portcullis_request_duration_seconds_bucket\{le="0.001",route="proxy"\} 1$/m);
    line(/^portcullis_request_duration_seconds_bucket\{le="0.001",route="gateway:not-found"\} 1$/m);
    line(/^portcullis_request_duration_seconds_bucket\{le="0.005",route="proxy"\} 2$/m);
    line(/^portcullis_request_duration_seconds_bucket\{le="10",route="proxy"\} 2$/m);
    line(/^portcullis_request_duration_seconds_bucket\{le="\+Inf",route="proxy"\} 3$/m);
    line(/^portcullis_request_duration_seconds_sum\{route="proxy"\} 12.0034$/m);
    line(/^portcullis_request_duration_seconds_count\{route="proxy"\} 3$/m);
    line(/^portcullis_upstream_errors_total\{kind="timeout"\} 1$/m);
    line(/^portcullis_process_cpu_seconds_total /m);
  });

  it("reads the same through prom-client's JSON view", async () => {
    const metrics = createMetrics();
    metrics.observe("proxy", 200, 0.002);
    const json = await metrics.registry.getMetricsAsJSON();
    const counter = json.find((m) => m.name === "portcullis_requests_total");
    assert.deepEqual(counter?.values, [{ value: 1, labels: { route: "proxy", status: "2xx" } }]);
  });
});
