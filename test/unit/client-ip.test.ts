import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveClientAddress, trustedProxies, unmapIpv4 } from "../../src/pipeline/client-ip.js";

describe("trustedProxies", () => {
  const trusted = trustedProxies(["10.0.0.0/8", "192.168.1.5", "fd00::/8"]);

  it("contains addresses inside a CIDR block", () => {
    assert.equal(trusted.contains("10.1.2.3"), true);
    assert.equal(trusted.contains("10.255.255.255"), true);
    assert.equal(trusted.contains("11.0.0.1"), false);
  });

  it("contains a single listed address and not its neighbours", () => {
    assert.equal(trusted.contains("192.168.1.5"), true);
    assert.equal(trusted.contains("192.168.1.6"), false);
  });

  it("matches IPv6 blocks", () => {
    assert.equal(trusted.contains("fd00::1"), true);
    assert.equal(trusted.contains("fe80::1"), false);
  });

  it("matches an IPv4-mapped IPv6 address against IPv4 blocks", () => {
    assert.equal(trusted.contains("::ffff:10.1.2.3"), true);
    assert.equal(trusted.contains("::ffff:8.8.8.8"), false);
  });

  it("contains nothing when the list is empty", () => {
    const none = trustedProxies([]);
    assert.equal(none.contains("10.0.0.1"), false);
    assert.equal(none.contains("127.0.0.1"), false);
    assert.equal(none.contains("::1"), false);
  });

  it("does not contain an IPv6 address only because it ends in a listed IPv4 address", () => {
    assert.equal(trusted.contains("::abcd:10.1.2.3"), false);
    assert.equal(trusted.contains("64:ff9b::10.1.2.3"), false);
  });

  it("does not contain text that is not an address", () => {
    assert.equal(trusted.contains(""), false);
    assert.equal(trusted.contains("unknown"), false);
  });
});

describe("unmapIpv4", () => {
  it("turns ::ffff:a.b.c.d into a.b.c.d", () => {
    assert.equal(unmapIpv4("::ffff:127.0.0.1"), "127.0.0.1");
  });

  it("leaves plain IPv4, plain IPv6 and non-IPv4 ::ffff: forms alone", () => {
    assert.equal(unmapIpv4("1.2.3.4"), "1.2.3.4");
    assert.equal(unmapIpv4("::1"), "::1");
    assert.equal(unmapIpv4("::ffff:abcd::1"), "::ffff:abcd::1");
  });

  it("leaves alone other IPv6 addresses that end in a dotted quad", () => {
    for (const address of ["::abcd:10.0.0.1", "::fffe:10.0.0.1", "64:ff9b::10.0.0.1", "::10.0.0.1"]) assert.equal(unmapIpv4(address), address);
  });
});

describe("resolveClientAddress", () => {
  const trusted = trustedProxies(["10.0.0.0/8", "fd00::/8"]);

  it("ignores X-Forwarded-For entirely when the peer is not a trusted proxy", () => {
    assert.deepEqual(resolveClientAddress("8.8.8.8", "1.1.1.1", trusted), { clientIp: "8.8.8.8", forwardedFor: "8.8.8.8" });
    assert.deepEqual(resolveClientAddress("8.8.8.8", "10.0.0.2, 1.1.1.1", trusted), { clientIp: "8.8.8.8", forwardedFor: "8.8.8.8" });
  });

  it("ignores X-Forwarded-For when no proxies are trusted", () => {
    assert.deepEqual(resolveClientAddress("10.0.0.1", "1.1.1.1", trustedProxies([])), { clientIp: "10.0.0.1", forwardedFor: "10.0.0.1" });
  });

  it("uses the peer when a trusted proxy sends no X-Forwarded-For", () => {
    assert.deepEqual(resolveClientAddress("10.0.0.1", undefined, trusted), { clientIp: "10.0.0.1", forwardedFor: "10.0.0.1" });
    assert.deepEqual(resolveClientAddress("10.0.0.1", "", trusted), { clientIp: "10.0.0.1", forwardedFor: "10.0.0.1" });
  });

  it("gives an empty address and believes no header when the socket no longer knows its peer", () => {
    assert.deepEqual(resolveClientAddress(undefined, "1.1.1.1", trusted), { clientIp: "", forwardedFor: "" });
    assert.deepEqual(resolveClientAddress(undefined, undefined, trusted), { clientIp: "", forwardedFor: "" });
  });

  it("does not take a peer for a trusted proxy because its IPv6 address ends in a trusted IPv4 one", () => {
    assert.deepEqual(resolveClientAddress("::abcd:10.0.0.1", "1.1.1.1", trusted), { clientIp: "::abcd:10.0.0.1", forwardedFor: "::abcd:10.0.0.1" });
  });

  it("believes the hop reported by a trusted peer", () => {
    assert.deepEqual(resolveClientAddress("10.0.0.1", "1.1.1.1", trusted), { clientIp: "1.1.1.1", forwardedFor: "1.1.1.1, 10.0.0.1" });
  });

  it("walks right to left through trusted hops and stops at the first untrusted one", () => {
    assert.deepEqual(resolveClientAddress("10.0.0.1", "1.1.1.1, 10.0.0.2, 10.0.0.3", trusted), {
      clientIp: "1.1.1.1",
      forwardedFor: "1.1.1.1, 10.0.0.2, 10.0.0.3, 10.0.0.1",
    });
  });

  it("drops spoofed entries a client wrote left of the first untrusted hop", () => {
    assert.deepEqual(resolveClientAddress("10.0.0.1", "6.6.6.6, 1.1.1.1", trusted), { clientIp: "1.1.1.1", forwardedFor: "1.1.1.1, 10.0.0.1" });
    assert.deepEqual(resolveClientAddress("10.0.0.1", "10.9.9.9, 6.6.6.6, 1.1.1.1, 10.0.0.2", trusted), {
      clientIp: "1.1.1.1",
      forwardedFor: "1.1.1.1, 10.0.0.2, 10.0.0.1",
    });
  });

  it("takes the left-most hop when every hop is trusted", () => {
    assert.deepEqual(resolveClientAddress("10.0.0.1", "10.0.0.9, 10.0.0.2", trusted), {
      clientIp: "10.0.0.9",
      forwardedFor: "10.0.0.9, 10.0.0.2, 10.0.0.1",
    });
  });

  it("stops at an entry that is not an address, keeping the trusted proxy that reported it", () => {
    assert.deepEqual(resolveClientAddress("10.0.0.1", "garbage", trusted), { clientIp: "10.0.0.1", forwardedFor: "10.0.0.1" });
    assert.deepEqual(resolveClientAddress("10.0.0.1", "1.1.1.1:1234", trusted), { clientIp: "10.0.0.1", forwardedFor: "10.0.0.1" });
    assert.deepEqual(resolveClientAddress("10.0.0.1", "garbage, 10.0.0.3", trusted), { clientIp: "10.0.0.3", forwardedFor: "10.0.0.3, 10.0.0.1" });
  });

  it("handles IPv6 peers and hops", () => {
    assert.deepEqual(resolveClientAddress("fd00::2", "2001:db8::1", trusted), { clientIp: "2001:db8::1", forwardedFor: "2001:db8::1, fd00::2" });
    assert.deepEqual(resolveClientAddress("2001:db8::9", "1.1.1.1", trusted), { clientIp: "2001:db8::9", forwardedFor: "2001:db8::9" });
  });

  it("unmaps ::ffff: addresses of both the peer and the hops", () => {
    assert.deepEqual(resolveClientAddress("::ffff:10.0.0.1", "::ffff:1.1.1.1", trusted), { clientIp: "1.1.1.1", forwardedFor: "1.1.1.1, 10.0.0.1" });
    assert.deepEqual(resolveClientAddress("::ffff:8.8.8.8", "1.1.1.1", trusted), { clientIp: "8.8.8.8", forwardedFor: "8.8.8.8" });
  });

  it("reads an array-valued header as one comma-separated chain", () => {
    assert.deepEqual(resolveClientAddress("10.0.0.1", ["6.6.6.6", "1.1.1.1, 10.0.0.2"], trusted), {
      clientIp: "1.1.1.1",
      forwardedFor: "1.1.1.1, 10.0.0.2, 10.0.0.1",
    });
  });

  it("ignores empty entries and surrounding spaces", () => {
    assert.deepEqual(resolveClientAddress("10.0.0.1", " 1.1.1.1 ,, 10.0.0.2 ", trusted), {
      clientIp: "1.1.1.1",
      forwardedFor: "1.1.1.1, 10.0.0.2, 10.0.0.1",
    });
  });
});
