/**
 * A real browser (Debian's chromium, driven by playwright-core) against a real gateway in front of
 * the demo upstream: the login page, the form login and its redirect back, the application page as
 * the user, and a logout by form POST with the session's CSRF token (SPEC §6.1, §6.5).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, it } from "node:test";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { startDemoUpstream, type DemoUpstream } from "../../src/demo/upstream.js";
import { startTestGateway, type TestGateway } from "../helpers/gateway.js";

const CHROMIUM = "/usr/bin/chromium";
const WAIT = 15_000;

describe("a browser signs in, uses the application and signs out", { timeout: 90_000 }, () => {
  let upstream: DemoUpstream | undefined;
  let gw: TestGateway | undefined;
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  let page: Page;
  let origin: string;

  before(async () => {
    // Without the browser, the test itself fails (below): it is never skipped.
    if (!fs.existsSync(CHROMIUM)) return;
    upstream = await startDemoUpstream(0);
    gw = await startTestGateway({ upstream: { url: `http://127.0.0.1:${upstream.port}` }, access: { defaultPolicy: "authenticated" } });
    origin = `https://127.0.0.1:${gw.securePort}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      timeout: WAIT,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
    });
    context = await browser.newContext({ ignoreHTTPSErrors: true });
    context.setDefaultTimeout(WAIT);
    context.setDefaultNavigationTimeout(WAIT);
    page = await context.newPage();
  });

  after(async () => {
    await context?.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await gw?.close();
    await upstream?.close();
  });

  it("is sent to the login page, signs in, lands on the page it asked for, and signs out", async () => {
    // Not a skip: without the browser this end-to-end check has not been made, and must say so.
    assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} does not exist: install Debian's chromium package (apt-get install chromium) to run the browser test`);
    // 1. A protected page without a session: the login page, remembering where to come back to.
    const first = await page.goto(`${origin}/protected/page?x=1`, { waitUntil: "load" });
    assert.ok(first, "no response to the first navigation");
    assert.equal(await page.title(), "Sign in");
    const loginUrl = new URL(page.url());
    assert.equal(loginUrl.pathname, "/gateway/login");
    assert.equal(loginUrl.searchParams.get("returnTo"), "/protected/page?x=1");
    assert.equal(await page.locator('input[name="returnTo"]').inputValue(), "/protected/page?x=1");

    // 2. A wrong password first: the same page with the failure message, no session.
    await page.fill("#username", "admin");
    await page.fill("#password", "not-the-password");
    await Promise.all([page.waitForURL(/\/gateway\/login/, { timeout: WAIT }), page.click('button[type="submit"]')]);
    assert.equal(await page.title(), "Sign in");
    assert.match(await page.locator('[role="alert"]').innerText(), /login attempt failed/i);
    assert.equal((await context!.cookies()).filter((c) => c.name === "portcullis_session").length, 0);

    // 3. The right password: back on the page asked for, served by the upstream, as admin.
    await page.fill("#username", "admin");
    await page.fill("#password", "admin-password-1");
    await Promise.all([page.waitForURL(`${origin}/protected/page?x=1`, { timeout: WAIT }), page.click('button[type="submit"]')]);
    assert.equal(await page.title(), "portcullis demo upstream");
    const body = await page.locator("body").innerText();
    assert.match(body, /as admin/);
    assert.match(body, /GET \/protected\/page\?x=1/);
    assert.match(body, /x-remote-user\s+admin/i);
    // The session cookie as SPEC §6.2 wants it.
    const cookies = (await context!.cookies()).filter((c) => c.name === "portcullis_session");
    assert.equal(cookies.length, 1);
    assert.equal(cookies[0]!.httpOnly, true);
    assert.equal(cookies[0]!.secure, true);
    assert.equal(cookies[0]!.sameSite, "Lax");
    assert.equal((await gw!.gateway.sessions.list("admin")).length, 1);

    // 4. Sign out: the page has no button, so build the form the way an application would, with
    //    the CSRF token read from /gateway/session (same-origin fetch with the cookie).
    const token = await page.evaluate(async () => {
      const res = await fetch("/gateway/session", { credentials: "same-origin", headers: { accept: "application/json" } });
      if (!res.ok) throw new Error(`GET /gateway/session answered ${res.status}`);
      return ((await res.json()) as { csrfToken: string }).csrfToken;
    });
    assert.ok(typeof token === "string" && token.length > 10, `csrf token: ${token}`);
    await Promise.all([
      page.waitForURL(/\/gateway\/login/, { timeout: WAIT }),
      page.evaluate((csrfToken) => {
        // Runs in the page (the DOM library is not in this project's tsconfig, hence the local type).
        interface El { method: string; action: string; type: string; name: string; value: string; appendChild(e: El): void; submit(): void }
        const document = (globalThis as unknown as { document: { createElement(tag: string): El; body: El } }).document;
        const form = document.createElement("form");
        form.method = "POST";
        form.action = "/gateway/logout";
        const input = document.createElement("input");
        input.type = "hidden";
        input.name = "csrfToken";
        input.value = csrfToken;
        form.appendChild(input);
        document.body.appendChild(form);
        form.submit();
      }, token),
    ]);
    assert.equal(await page.title(), "Sign in");
    assert.equal((await context!.cookies()).filter((c) => c.name === "portcullis_session" && c.value !== "").length, 0, "the cookie was cleared");
    assert.equal((await gw!.gateway.sessions.list("admin")).length, 0, "the session was ended in the store");
    const ended = gw!.logs.lines.find((l) => l.event === "session.ended" && l.reason === "logout");
    assert.ok(ended, "the logout was audited");

    // 5. The protected page again: the login page, not the application.
    await page.goto(`${origin}/protected/page`, { waitUntil: "load" });
    assert.equal(await page.title(), "Sign in");
    assert.equal(new URL(page.url()).pathname, "/gateway/login");
  });
});
