// Tests of verifyWebhook against signatures made with Node's own HMAC, the way
// the server makes them.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { describe, it } from "node:test";

import { verifyWebhook } from "../src/index.js";

function sign(secret: string, unix: number, body: string): string {
  const mac = createHmac("sha256", secret).update(`${unix}.${body}`).digest("hex");
  return `t=${unix},v1=${mac}`;
}

describe("verifyWebhook", () => {
  const secret = "whsec-0123456789abcdef";
  const body = '{"version":"1","event":"execution.failed","plan":{"name":"caf\u00e9"}}';
  const now = Math.floor(Date.now() / 1000);

  it("accepts a signature made with the secret, as text or bytes", async () => {
    assert.equal(await verifyWebhook(secret, sign(secret, now, body), body), true);
    assert.equal(await verifyWebhook(secret, sign(secret, now, body), new TextEncoder().encode(body)), true);
    assert.equal(await verifyWebhook(secret, sign(secret, now, body) + ",v1=00ff", body), true);
  });

  it("refuses another secret, a changed body, an old or future time, and malformed headers", async () => {
    assert.equal(await verifyWebhook("whsec-another-secret", sign(secret, now, body), body), false);
    assert.equal(await verifyWebhook(secret, sign(secret, now, body), body + " "), false);
    assert.equal(await verifyWebhook(secret, sign(secret, now - 600, body), body), false);
    assert.equal(await verifyWebhook(secret, sign(secret, now + 600, body), body), false);
    assert.equal(await verifyWebhook(secret, "", body), false);
    assert.equal(await verifyWebhook(secret, `t=${now}`, body), false);
    assert.equal(await verifyWebhook(secret, `t=abc,v1=00`, body), false);
    assert.equal(await verifyWebhook(secret, `t=${now},v1=zz`, body), false);
  });
});
