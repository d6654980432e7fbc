// Global setup of the end-to-end test: what it needs, started here unless given.
//
//   UI_URL       a running UI: use it as it is (nothing is started); its
//                admin password in GATEWAY_ADMIN_PASSWORD
//   GATEWAY_URL  a running gateway: build and start only the UI against it
//   neither      build and start the local stack (go build ./local; NO_UI=1,
//                free ports, provider delay 0, state in a temporary folder,
//                the API key and admin password the runner made passed to the UI),
//                then build the UI into .next-e2e and start it against it
//
// Everything started here runs in its own process group and is stopped at
// teardown, also when the test fails; the temporary folder holds the logs,
// which are printed when something does not come up.

import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { chmodSync, createWriteStream, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    uiUrl: string;
    gatewayUrl: string;
    /** The gateway admin's password, which the UI's System page asks for too. */
    adminPassword: string;
  }
}

const UI_DIR = resolve(import.meta.dirname, "..");
const ROOT = resolve(UI_DIR, "..");
const START_DEADLINE_MS = 10 * 60_000;

interface Started {
  name: string;
  child: ChildProcess;
  log: string;
  exited: Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolvePort(addr.port) : reject(new Error("no port"))));
    });
  });
}

function start(name: string, cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; logDir: string }): Started {
  const log = join(opts.logDir, `${name}.log`);
  const out = createWriteStream(log);
  // detached: a process group of its own, so stopping it stops its children.
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.pipe(out);
  child.stderr!.pipe(out);
  const exited = once(child, "exit").then(() => undefined);
  return { name, child, log, exited };
}

function tail(file: string, lines = 60): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

function alive(s: Started): boolean {
  return s.child.exitCode === null && s.child.signalCode === null;
}

async function run(name: string, cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; logDir: string }) {
  const s = start(name, cmd, args, opts);
  await s.exited;
  if (s.child.exitCode !== 0) {
    throw new Error(`${name} failed (exit ${s.child.exitCode ?? s.child.signalCode}):\n${tail(s.log)}`);
  }
}

/** waitFor polls check until it is true; it fails when a process it depends on dies, or at the deadline. */
async function waitFor(what: string, check: () => Promise<boolean>, needs: Started[], deadline: number) {
  for (;;) {
    if (await check().catch(() => false)) return;
    const dead = needs.find((s) => !alive(s));
    if (dead) throw new Error(`${dead.name} exited while waiting for ${what}:\n${tail(dead.log)}`);
    if (Date.now() > deadline) throw new Error(`${what}: not ready in time:\n${needs.map((s) => tail(s.log)).join("\n")}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function status(url: string, init: RequestInit = {}): Promise<number> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  await res.body?.cancel();
  return res.status;
}

function signalGroup(s: Started, signal: NodeJS.Signals) {
  try {
    process.kill(-s.child.pid!, signal);
  } catch {
    // Already gone.
  }
}

async function stop(s: Started, graceMs: number, how: "group" | "leader") {
  if (!alive(s)) return;
  // The stack's runner stops its functions and Postgres itself on SIGTERM; a
  // signal to its whole group would hit the `go build` children mid-way.
  if (how === "group") signalGroup(s, "SIGTERM");
  else s.child.kill("SIGTERM");
  const timer = new Promise<"late">((r) => setTimeout(() => r("late"), graceMs));
  if ((await Promise.race([s.exited, timer])) === "late") {
    console.warn(`e2e: ${s.name} did not stop in ${graceMs} ms; killing it`);
    signalGroup(s, "SIGKILL");
    await s.exited;
  }
}

/**
 * reapStrays kills what a killed runner may have left: processes whose
 * executable lies in this run's own temporary folder (the built functions) and
 * the Postgres server of its data folder. Only this run's processes match.
 */
function reapStrays(dir: string) {
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      if (readlinkSync(`/proc/${pid}/exe`).startsWith(dir + "/")) process.kill(Number(pid), "SIGKILL");
    } catch {
      // Not ours, or gone.
    }
  }
  const pidFile = join(dir, "state", "postgres", "data", "postmaster.pid");
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
    try {
      if (pid > 0) process.kill(pid, "SIGQUIT"); // Postgres's immediate shutdown
    } catch {
      // Gone.
    }
  }
}

export default async function setup(project: TestProject) {
  const given = process.env.UI_URL;
  if (given) {
    project.provide("uiUrl", given.replace(/\/+$/, ""));
    project.provide("gatewayUrl", process.env.GATEWAY_URL ?? "");
    project.provide("adminPassword", process.env.GATEWAY_ADMIN_PASSWORD ?? "");
    return;
  }

  const dir = mkdtempSync(join(tmpdir(), "payment-pet-e2e-"));
  // As root the runner starts Postgres as the postgres user, which must be
  // able to reach its data folder inside this one.
  chmodSync(dir, 0o755);
  const started: Started[] = [];
  const deadline = Date.now() + START_DEADLINE_MS;
  const baseEnv = { ...process.env, NEXT_TELEMETRY_DISABLED: "1" };
  let stack: Started | undefined;

  const teardown = async () => {
    const ui = started.find((s) => s.name === "next-start");
    if (ui) await stop(ui, 20_000, "group");
    if (stack) await stop(stack, 90_000, "leader");
    for (const s of started) if (alive(s)) signalGroup(s, "SIGKILL");
    reapStrays(dir);
    process.off("exit", onExit);
    if (process.env.E2E_KEEP_LOGS) console.info(`e2e: logs kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  };

  // Last resort when the test runner itself is stopped: no process outlives it.
  const onExit = () => {
    for (const s of started) if (alive(s)) signalGroup(s, "SIGKILL");
    reapStrays(dir);
  };
  process.once("exit", onExit);

  try {
    let gatewayUrl = process.env.GATEWAY_URL?.replace(/\/+$/, "");
    let apiKey = process.env.GATEWAY_API_KEY ?? "";
    let adminPassword = process.env.GATEWAY_ADMIN_PASSWORD ?? "";
    const stackReady = (async () => {
      if (gatewayUrl) return;
      const ports = await Promise.all(Array.from({ length: 5 }, freePort));
      const [gw, pg, ...kafka] = ports;
      gatewayUrl = `http://127.0.0.1:${gw}`;
      const env: NodeJS.ProcessEnv = {
        ...baseEnv,
        GOFLAGS: "-mod=mod",
        NO_UI: "1",
        GATEWAY_ADDR: `127.0.0.1:${gw}`,
        LOCAL_PG_PORT: String(pg),
        LOCAL_KAFKA_PORTS: kafka.join(","),
        LOCAL_STATE_DIR: join(dir, "state"),
        PAYMENT_PROVIDER_MIN_DELAY: "0s",
        PAYMENT_PROVIDER_MAX_DELAY: "0s",
      };
      // Its own services, never a developer's.
      delete env.DATABASE_URL;
      delete env.KAFKA_BROKERS;
      // A built binary, not `go run`: go run does not pass SIGTERM on, and the
      // runner needs it to stop its functions and Postgres.
      await run("go-build", "go", ["build", "-o", join(dir, "local"), "./local"], { cwd: ROOT, env, logDir: dir });
      stack = start("stack", join(dir, "local"), ["run"], { cwd: ROOT, env, logDir: dir });
      started.push(stack);
      // The runner makes an API key for create-payment and get-payment; the
      // UI's server side sends it, as it will in production.
      const keyFile = join(dir, "state", "secrets", "payments-api-key");
      const user = "5d1f7a58-3c1e-4e0c-8a57-0f6f2f1f3b11";
      await waitFor(
        "the gateway and functions",
        async () => {
          if (!existsSync(keyFile)) return false;
          apiKey = readFileSync(keyFile, "utf8").split("\n")[0]!.trim();
          // And the gateway's admin password, for the event stream (/system/events)
          // and the System page.
          adminPassword = readFileSync(join(dir, "state", "secrets", "basic-auth-password"), "utf8").trim();
          const auth = { headers: { Authorization: `Bearer ${apiKey}` } };
          // The gateway answers 502/503 for a function that is not up yet.
          return (
            (await status(`${gatewayUrl}/function/get-payment?userId=${user}&limit=1`, auth)) === 200 &&
            ![502, 503, 504].includes(await status(`${gatewayUrl}/function/create-payment`, auth))
          );
        },
        [stack],
        deadline,
      );
    })();

    const distDir = ".next-e2e";
    const uiBuilt = run("next-build", process.execPath, [join(UI_DIR, "node_modules/next/dist/bin/next"), "build"], {
      cwd: UI_DIR,
      env: { ...baseEnv, NEXT_DIST_DIR: distDir },
      logDir: dir,
    });
    // Both settle before going on, so that nothing is still starting when a
    // failure tears the rest down.
    const failed = (await Promise.allSettled([stackReady, uiBuilt])).find((r) => r.status === "rejected");
    if (failed) throw failed.reason;

    const uiPort = await freePort();
    const uiUrl = `http://127.0.0.1:${uiPort}`;
    const ui = start(
      "next-start",
      process.execPath,
      [join(UI_DIR, "node_modules/next/dist/bin/next"), "start", "-p", String(uiPort), "-H", "127.0.0.1"],
      { cwd: UI_DIR, env: { ...baseEnv, NEXT_DIST_DIR: distDir, GATEWAY_URL: gatewayUrl, GATEWAY_API_KEY: apiKey, GATEWAY_ADMIN_PASSWORD: adminPassword }, logDir: dir },
    );
    started.push(ui);
    await waitFor("the UI", async () => (await status(`${uiUrl}/`)) === 200, [ui], deadline);

    project.provide("uiUrl", uiUrl);
    project.provide("gatewayUrl", gatewayUrl!);
    project.provide("adminPassword", adminPassword);
    return teardown;
  } catch (err) {
    await teardown();
    throw err;
  }
}
