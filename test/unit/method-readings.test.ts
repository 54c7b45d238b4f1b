/** A POST that a framework could turn into another method is judged as each method it could become. */
import assert from "node:assert/strict";
import type http from "node:http";
import { describe, it } from "node:test";
import { validate } from "../../src/config/load.js";
import { compileRules } from "../../src/policy/access-rules.js";
import { methodReadings } from "../../src/policy/method-readings.js";

const ALL = ["POST", "PUT", "PATCH", "DELETE", "GET", "HEAD", "OPTIONS"];
const req = (method: string, contentType?: string) => ({ method, headers: contentType === undefined ? {} : { "content-type": contentType } }) as unknown as http.IncomingMessage;

describe("method readings", () => {
  it("reads a form POST as every method HiddenHttpMethodFilter, Rails or Laravel could make of it", () => {
    for (const type of ["application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=UTF-8", "multipart/form-data; boundary=x", "Multipart/Form-Data"]) {
      assert.deepEqual(methodReadings(req("POST", type), ""), ALL, type);
    }
  });

  it("reads a POST with _method in its query the same way, whatever its body", () => {
    for (const query of ["?_method=DELETE", "?a=1&_method=put", "?_METHOD=patch"]) {
      assert.deepEqual(methodReadings(req("POST", "application/json"), query), ALL, query);
    }
  });

  it("reads the spellings frameworks decode or fold into _method: Tomcat's %5f, PHP's . space and [", () => {
    for (const query of ["?%5fmethod=DELETE", "?%5Fmethod=DELETE", "?_%6dethod=DELETE", "?%5F%6D%65%74%68%6F%64=DELETE", "?.method=DELETE", "?+method=DELETE", "?%20method=DELETE", "?[method=DELETE", "?x=1&%5fMETHOD=put"]) {
      assert.deepEqual(methodReadings(req("POST", "application/json"), query), ALL, query);
    }
  });

  it("reads a POST without a Content-Type, or with any multipart body, as a form (Rack parses them)", () => {
    assert.deepEqual(methodReadings(req("POST"), ""), ALL);
    assert.deepEqual(methodReadings(req("POST", ""), ""), ALL);
    assert.deepEqual(methodReadings(req("POST", "   "), ""), ALL);
    for (const type of ["multipart/mixed; boundary=x", "multipart/related; boundary=x"]) assert.deepEqual(methodReadings(req("POST", type), ""), ALL, type);
  });

  it("reads a JSON POST as every method too: Laravel merges a JSON body into the parameters Symfony's override reads", () => {
    for (const type of ["application/json", "application/json; charset=utf-8", "Application/JSON", "application/vnd.api+json", "application/merge-patch+json", "text/json"]) {
      assert.deepEqual(methodReadings(req("POST", type), ""), ALL, type);
    }
  });

  it("leaves other requests at their own method", () => {
    assert.equal(methodReadings(req("POST", "application/xml"), ""), "POST");
    assert.equal(methodReadings(req("POST", "application/octet-stream"), "?x=1&y=2"), "POST");
    assert.equal(methodReadings(req("POST", "application/jsonl"), ""), "POST");
    assert.equal(methodReadings(req("POST", "text/plain"), ""), "POST");
    assert.equal(methodReadings(req("GET", "application/x-www-form-urlencoded"), "?_method=DELETE"), "GET");
    assert.equal(methodReadings(req("DELETE"), ""), "DELETE");
  });

  it("makes a DELETE-only admin rule hold for a form POST that could become a DELETE", () => {
    const rules = compileRules(validate({ access: { defaultPolicy: "authenticated", rules: [{ paths: ["/reports/**"], methods: ["DELETE"], policy: "admin" }] } }, {}).access);
    assert.equal(rules.decide("/reports/1", undefined, methodReadings(req("POST", "application/x-www-form-urlencoded"), ""), "10.0.0.1").policy, "admin");
    assert.equal(rules.decide("/reports/1", undefined, methodReadings(req("POST", "application/json"), "?_method=DELETE"), "10.0.0.1").policy, "admin");
    assert.equal(rules.decide("/reports/1", undefined, methodReadings(req("POST", "application/xml"), ""), "10.0.0.1").policy, "authenticated");
    assert.equal(rules.decide("/reports/1", undefined, methodReadings(req("POST", "application/json"), ""), "10.0.0.1").policy, "admin");
    assert.equal(rules.decide("/reports/1", undefined, ["POST", "PUT"], "10.0.0.1").rule, "default");
    assert.equal(rules.decide("/reports/1", undefined, methodReadings(req("POST", "application/json"), "?%5fmethod=DELETE"), "10.0.0.1").policy, "admin");
  });

  it("makes a GET-only admin rule hold for a POST that Rack could run as a GET", () => {
    const rules = compileRules(validate({ access: { defaultPolicy: "authenticated", rules: [{ paths: ["/getonly/**"], methods: ["GET"], policy: "admin" }] } }, {}).access);
    assert.equal(rules.decide("/getonly/x", undefined, methodReadings(req("POST", "application/json"), "?_method=GET"), "10.0.0.1").policy, "admin");
  });
});
