// The browser-facing protections, in a real browser against the built UI: a
// strict Content-Security-Policy that the page itself does not trip, and a
// cross-site form that cannot reset the visitor's identity.

import { createServer, type Server } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

const UI_URL = inject("uiUrl");

let context: BrowserContext;
let page: Page;
let profile: string;
let attacker: Server;
let attackerUrl: string;
const violations: string[] = [];

beforeAll(async () => {
  profile = mkdtempSync(join(tmpdir(), "payment-pet-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync"],
    locale: "en-US",
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(60_000);
  page.on("console", (msg) => {
    if (/Content.Security.Policy/i.test(msg.text())) violations.push(msg.text());
  });
  // Another site: a page whose form posts to the UI as soon as it loads.
  attacker = createServer((_req, res) => {
    res.setHeader("Content-Type", "text/html");
    res.end(`<form id="f" method="POST" action="${UI_URL}/api/user"></form><script>document.getElementById("f").submit()</script>`);
  });
  await new Promise<void>((resolve) => attacker.listen(0, "127.0.0.1", resolve));
  const addr = attacker.address();
  attackerUrl = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}/`;
});

afterAll(async () => {
  await context?.close();
  attacker?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

describe("the page's protections", () => {
  it("renders and runs under its Content-Security-Policy without a violation", async () => {
    const res = await page.goto(UI_URL);
    const headers = res!.headers();
    expect(headers["content-security-policy"]).toMatch(/script-src 'self' 'nonce-[^']+' 'strict-dynamic'/);
    expect(headers["content-security-policy"]).toContain("frame-ancestors 'none'");
    expect(headers["referrer-policy"]).toBe("no-referrer");
    expect(headers["x-content-type-options"]).toBe("nosniff");
    // Running: switching the language takes the page's scripts.
    await page.getByRole("button", { name: "Русский" }).click();
    await page.getByRole("heading", { name: "Новый платёж" }).waitFor();
    expect(violations).toEqual([]);
  });

  it("keeps the visitor's identity when another site posts a form to /api/user", async () => {
    await page.goto(UI_URL);
    const before = await page.getByTestId("user-id").textContent();
    const refused = page.waitForResponse((r) => r.url() === `${UI_URL}/api/user`);
    await page.goto(attackerUrl);
    const answer = await refused;
    expect(answer.status()).toBe(403);
    await page.goto(UI_URL);
    expect(await page.getByTestId("user-id").textContent()).toBe(before);
  });
});
