/**
 * uiLoginFailureMessage (SPEC §2, §4): only `p br ul ol li b strong i em a[href=https:…]` reach the
 * login page; JSON clients get text; the HTML is sanitised once per value, not per failed login.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loginMessageCache, renderLoginMessage } from "../../src/web/login-message.js";

describe("renderLoginMessage", () => {
  it("keeps XNAT's default message as it is, and makes a list of its list for JSON clients", () => {
    const xnat = "Locked after 5 attempts. You can:<ul><li>Unlock it by resetting your password</li><li>Wait one hour</li></ul>";
    assert.deepEqual(renderLoginMessage(xnat), { html: xnat, text: "Locked after 5 attempts. You can:\n- Unlock it by resetting your password\n- Wait one hour" });
  });

  it("drops a meta refresh, scripts, styles, images, forms, frames and event attributes", () => {
    const { html } = renderLoginMessage(
      '<meta http-equiv="refresh" content="0;url=https://evil.example/"><b onmouseover="x()">No</b><script>alert(1)</script><style>*{}</style>' +
        '<img src=x onerror=alert(1)><iframe src="https://evil.example/"></iframe><form><input name=password></form><base href="https://evil.example/">',
    );
    assert.equal(html, "<b>No</b>");
  });

  it("keeps https links only, with rel noopener, and drops the href of any other", () => {
    const { html } = renderLoginMessage(
      '<a href="https://help.example.org/?a=1&b=2" target="_top">help</a> <a href="http://x.example/">http</a> <a href="javascript:alert(1)">js</a> ' +
        '<a href="&#106;avascript:alert(1)">entity</a> <a href="/gateway/logout">relative</a> <a href="//evil.example/">scheme-relative</a> <a href="data:text/html,x">data</a>',
    );
    assert.equal(
      html,
      '<a href="https://help.example.org/?a=1&amp;b=2" rel="noopener noreferrer">help</a> <a>http</a> <a>js</a> <a>entity</a> <a>relative</a> <a>scheme-relative</a> <a>data</a>',
    );
  });

  it("gives text with entities decoded once, whitespace folded and one line per paragraph or break", () => {
    assert.equal(renderLoginMessage("<p>Failed &amp;  locked:\n &lt;b&gt; is text</p><p>Ask&nbsp;us<br>today &amp;amp; now</p>").text, "Failed & locked: <b> is text\nAsk us\ntoday &amp; now");
  });
});

describe("loginMessageCache", () => {
  it("sanitises a value once and again only when it changes", () => {
    const render = loginMessageCache();
    const a = render("<b>one</b>");
    assert.equal(render("<b>one</b>"), a);
    const b = render("<b>two</b>");
    assert.notEqual(b, a);
    assert.equal(b.html, "<b>two</b>");
  });
});
