// The page in a real browser against the real stack: pay, watch the result
// arrive, reload, get refused by the API, switch language, and fit a phone.
//
// Debian's Chromium (/usr/bin/chromium, or CHROMIUM_PATH) driven by
// playwright-core: nothing downloads a browser. Screenshots go to
// test-results/ (ignored by git).

import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

const UI_URL = inject("uiUrl");
const ADMIN_PASSWORD = inject("adminPassword");
const RESULTS = resolve(import.meta.dirname, "../test-results");
const SETTLE_MS = 3 * 60_000; // generous: a loaded machine is slow, and speed is not what is tested here
const FINAL = ["completed", "rejected"];

/** Debian's Chromium, headless, quiet. */
const CHROMIUM = {
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
};

let context: BrowserContext;
let page: Page;
let profile: string;

beforeAll(async () => {
  mkdirSync(RESULTS, { recursive: true });
  profile = mkdtempSync(join(tmpdir(), "payment-pet-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    ...CHROMIUM,
    viewport: { width: 1280, height: 900 },
    locale: "en-US",
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(60_000);
});

afterAll(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

/** The states each payment row has shown, recorded by the page as they change. */
async function recordStates(p: Page) {
  await p.evaluate(() => {
    const w = window as unknown as { __states: [string, string][] };
    w.__states = [];
    const record = () => {
      for (const row of document.querySelectorAll("tr[data-payment-id]")) {
        w.__states.push([row.getAttribute("data-payment-id")!, row.getAttribute("data-state")!]);
      }
    };
    new MutationObserver(record).observe(document.body, {
      subtree: true,
      childList: true,
      attributes: true,
      attributeFilter: ["data-state"],
    });
  });
}

async function statesSeen(p: Page, id: string): Promise<string[]> {
  const all = await p.evaluate(() => (window as unknown as { __states: [string, string][] }).__states);
  const mine = all.filter(([pid]) => pid === id).map(([, state]) => state);
  return mine.filter((s, i) => i === 0 || s !== mine[i - 1]); // runs of the same state once
}

const row = (id: string) => page.locator(`tr[data-payment-id="${id}"]`);

describe("the payment page", () => {
  let paymentId = "";
  let finalState = "";
  const purpose = `e2e rent ${Date.now()}`;

  it("pays, shows the payment pending, then its result with the provider's details", async () => {
    await page.goto(UI_URL);
    await page.getByRole("heading", { name: "New payment" }).waitFor();
    expect(await page.getByTestId("user-id").textContent()).toMatch(/^[0-9a-f-]{36}$/);
    await page.getByText(/No payments yet/).waitFor();

    // Keyboard order follows the form.
    await page.getByLabel("Account number").focus();
    await page.keyboard.type("40817810099910004312");
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("amount");
    await page.keyboard.type("125.50");
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("description");
    await page.keyboard.type(purpose);
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Pay");

    await recordStates(page);
    await page.keyboard.press("Enter");

    const created = page.locator("tbody tr", { hasText: purpose });
    await created.waitFor();
    paymentId = (await created.getAttribute("data-payment-id"))!;
    expect(paymentId).toMatch(/^[0-9a-f-]{36}$/);

    await page.waitForFunction(
      ({ id, final }) => final.includes(document.querySelector(`tr[data-payment-id="${id}"]`)?.getAttribute("data-state") ?? ""),
      { id: paymentId, final: FINAL },
      { timeout: SETTLE_MS },
    );
    const seen = await statesSeen(page, paymentId);
    expect(seen[0]).toBe("pending");
    finalState = seen[seen.length - 1]!;
    expect(FINAL).toContain(finalState);
    expect(seen).toHaveLength(2);

    const label = finalState === "completed" ? "Completed" : "Rejected";
    await row(paymentId).getByText(label, { exact: true }).waitFor();
    expect(await row(paymentId).locator("td").last().textContent()).not.toBe("—"); // the provider's details
    expect(await page.locator('[role="status"][aria-live="polite"]').first().textContent()).toContain(
      `Payment ${paymentId.slice(0, 8)} ${finalState}.`,
    );
  });

  it("shows the payment's CloudEvents from the gateway's stream", async () => {
    const group = page.locator(`[data-events-for="${paymentId}"]`);
    await group.locator('tr[data-event-type="dev.paymentpet.payment.created.v1"]').waitFor({ state: "attached", timeout: SETTLE_MS });
    await group.locator('tr[data-event-type="dev.paymentpet.payment.processed.v1"]').waitFor({ state: "attached", timeout: SETTLE_MS });
    await group.locator("summary").click();
    const topics = await group.locator("tbody tr td:first-child").allTextContents();
    expect(topics).toEqual(["payments", "paymentsResults"]);
  });

  it("keeps the payment across a reload", async () => {
    await page.reload();
    await row(paymentId).waitFor();
    expect(await row(paymentId).getAttribute("data-state")).toBe(finalState);
    await page.screenshot({ path: join(RESULTS, "e2e-desktop.png"), fullPage: true });
  });

  it("checks the amount itself, and shows the API's refusal beside the field", async () => {
    const rowsBefore = await page.locator("tbody tr").count();
    const amount = page.getByLabel("Amount");
    const error = page.locator("#amount-error");
    await page.getByLabel("Account number").fill("40817810099910004312");

    await amount.fill("1.234");
    await page.getByRole("button", { name: "Pay", exact: true }).click();
    await error.getByText("Use at most 2 decimals.").waitFor();
    await amount.fill("-5");
    await error.getByText("The amount must be greater than zero.").waitFor();

    // Over the API's maximum: only the API knows it, so the request goes out.
    await amount.fill("2000000");
    const answer = page.waitForResponse((r) => r.url().endsWith("/api/payments") && r.request().method() === "POST");
    await page.getByRole("button", { name: "Pay", exact: true }).click();
    expect((await answer).status()).toBe(400);
    await error.getByText("The amount must not exceed 1,000,000.00.").waitFor();
    expect(await amount.getAttribute("aria-invalid")).toBe("true");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("amount");
    expect(await page.locator("tbody tr").count()).toBe(rowsBefore);
    await page.screenshot({ path: join(RESULTS, "e2e-api-error.png") });
  });

  it("copies the whole payment id from the keyboard", async () => {
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: new URL(UI_URL).origin });
    const copy = row(paymentId).getByRole("button", { name: `Copy payment ID ${paymentId}` });
    await copy.focus();
    await page.keyboard.press("Enter");
    await row(paymentId).getByRole("status").getByText("Copied").waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(paymentId);
  });

  it("speaks Russian after the switch, also after a reload, with the header on one row at 1280 px", async () => {
    await page.getByRole("button", { name: "Русский" }).click();
    await page.getByRole("heading", { name: "Новый платёж" }).waitFor();
    await page.reload();
    await page.getByRole("heading", { name: "Новый платёж" }).waitFor();
    expect(await page.evaluate(() => document.documentElement.lang)).toBe("ru");
    await row(paymentId).getByText(finalState === "completed" ? "Проведён" : "Отклонён").waitFor();

    // The language switch and the user block sit beside the tagline, not below it.
    expect(page.viewportSize()?.width).toBe(1280);
    const box = async (l: ReturnType<Page["locator"]>) => (await l.boundingBox())!;
    const tagline = await box(page.getByTestId("tagline"));
    const languages = await box(page.getByRole("group", { name: "Язык" }));
    const user = await box(page.getByTestId("user-id"));
    const heading = await box(page.locator("header > div").first());
    for (const tool of [languages, user]) {
      expect(tool.x).toBeGreaterThanOrEqual(tagline.x + tagline.width);
      expect(tool.y).toBeLessThan(heading.y + heading.height);
    }
    expect(languages.y).toBeLessThan(tagline.y + tagline.height);
    await page.screenshot({ path: join(RESULTS, "e2e-ru-desktop.png") });
  });

  it("fits a phone-width screen", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.reload();
    await row(paymentId).waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    // The 20-digit account number stays on one line: its text has one line box.
    const accountLines = await row(paymentId)
      .locator("td")
      .first()
      .evaluate((td) => {
        const range = document.createRange();
        range.selectNodeContents(td);
        return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
      });
    expect(accountLines).toBe(1);
    await page.screenshot({ path: join(RESULTS, "e2e-phone.png"), fullPage: true });
  });
});

describe("the System page", () => {
  let browser: Browser;
  let admin: Page;
  const fn = (name: string) => admin.locator(`tr[data-function="${name}"]`);

  beforeAll(async () => {
    // The gateway admin, signed in as a person is: the browser answers the
    // page's Basic challenge with the admin's user and password.
    browser = await chromium.launch(CHROMIUM);
    const signedIn = await browser.newContext({
      httpCredentials: { username: "admin", password: ADMIN_PASSWORD, origin: new URL(UI_URL).origin },
      viewport: { width: 1280, height: 900 },
      locale: "en-US",
    });
    admin = await signedIn.newPage();
    admin.setDefaultTimeout(60_000);
  });

  afterAll(async () => {
    await browser?.close();
  });

  it("is closed to a visitor without the admin's credentials", async () => {
    // The visitor's own browser context (its cookie), without a sign-in.
    for (const path of ["/system", "/api/system"]) {
      const answer = await page.request.get(`${UI_URL}${path}`);
      expect(answer.status(), path).toBe(401);
      expect(answer.headers()["www-authenticate"], path).toMatch(/^Basic realm="payment-pet admin"/);
    }
    const scale = await page.request.post(`${UI_URL}/api/system/scale`, {
      headers: { Origin: new URL(UI_URL).origin },
      data: { function: "process-payment", replicas: 2 },
    });
    expect(scale.status()).toBe(401);
  });

  it("shows the admin every function, the topics and the consumer groups, live", async () => {
    await admin.goto(`${UI_URL}/system`);
    await admin.locator("tr[data-function]").nth(4).waitFor();
    expect(await admin.locator("tr[data-function]").count()).toBe(5);
    expect(await admin.getByTestId("replicas-create-payment").textContent()).toBe("1 / 1");
    await admin.locator('table[data-topic="payments"] tbody tr').nth(2).waitFor();
    await admin.locator('tr[data-lag-for="process-payment/payments/0"]').waitFor();
  });

  it("scales process-payment to 2 and back with its control, and shows the replicas come and go", async () => {
    for (const n of [2, 1]) {
      await fn("process-payment").locator("input").fill(String(n));
      await fn("process-payment").locator('button[type="submit"]').click();
      await admin.waitForFunction(
        (want) => document.querySelector('[data-testid="replicas-process-payment"]')?.textContent === want,
        `${n} / ${n}`,
        { timeout: SETTLE_MS },
      );
    }
    await admin.screenshot({ path: join(RESULTS, "e2e-system.png"), fullPage: true });
  });
});
