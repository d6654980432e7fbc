"use client";

// The System page: what the local stack is doing, live. Functions with their
// replicas, load and cold starts, and a scale control each; Kafka's topics
// and consumer groups with their lag; dead letters with a replay button.

import { useState } from "react";
import { useSystemStream } from "@/hooks/useSystemStream";
import { formatTime, translator, type Locale, type Translate } from "@/lib/i18n";
import type { ApiErrorBody, DeadLetter, SystemFunction, SystemSnapshot } from "@/lib/types";
import styles from "./SystemPage.module.css";

interface Props {
  locale: Locale;
}

type Notice = { kind: "info" | "error"; text: string } | null;

/** post sends a JSON body to one of the page's routes and returns the answer's message on failure. */
async function post(path: string, body: unknown): Promise<{ ok: true; data: unknown } | { ok: false; message: string }> {
  try {
    const res = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (res.ok) return { ok: true, data: text ? (JSON.parse(text) as unknown) : null };
    try {
      return { ok: false, message: (JSON.parse(text) as ApiErrorBody).error.message };
    } catch {
      return { ok: false, message: `${res.status}` };
    }
  } catch (err) {
    return { ok: false, message: err instanceof Error ? err.message : String(err) };
  }
}

const ms = (seconds: number) => `${Math.round(seconds * 1000)} ms`;

export function SystemPage({ locale }: Props) {
  const t = translator(locale);
  const { snapshot, available } = useSystemStream("/api/system");
  const [notice, setNotice] = useState<Notice>(null);

  return (
    <>
      <header className={styles.header}>
        <div>
          <h1>{t("sysTitle")}</h1>
          <p className={styles.muted}>{t("sysIntro")}</p>
        </div>
        <nav>
          <a href="/">{t("sysBack")}</a>
        </nav>
      </header>
      <main className={styles.main}>
        <p role="status" className={styles.status} data-testid="system-status">
          {!available
            ? t("sysUnavailable")
            : snapshot
              ? `${t("sysLive")} · ${formatTime(locale, snapshot.time)}`
              : t("sysWaiting")}
        </p>
        {notice && (
          <p role="alert" className={notice.kind === "error" ? styles.error : styles.info}>
            {notice.text}
          </p>
        )}
        {snapshot && <Snapshot snapshot={snapshot} locale={locale} t={t} onNotice={setNotice} />}
      </main>
    </>
  );
}

function Snapshot({
  snapshot,
  locale,
  t,
  onNotice,
}: {
  snapshot: SystemSnapshot;
  locale: Locale;
  t: Translate;
  onNotice(n: Notice): void;
}) {
  return (
    <>
      {snapshot.kafkaError && <p className={styles.error}>{t("sysKafkaError", { message: snapshot.kafkaError })}</p>}
      <section aria-labelledby="sys-functions">
        <h2 id="sys-functions">{t("sysFunctions")}</h2>
        <div className={styles.scroller}>
          <table className={styles.table}>
            <thead>
              <tr>
                <th scope="col">{t("sysColFunction")}</th>
                <th scope="col">{t("sysColReplicas")}</th>
                <th scope="col">{t("sysColLimits")}</th>
                <th scope="col">{t("sysColScaling")}</th>
                <th scope="col">{t("sysColRps")}</th>
                <th scope="col">{t("sysColP50")}</th>
                <th scope="col">{t("sysColP99")}</th>
                <th scope="col">{t("sysColInFlight")}</th>
                <th scope="col">{t("sysColColdStarts")}</th>
                <th scope="col">{t("sysColScale")}</th>
              </tr>
            </thead>
            <tbody>
              {snapshot.functions.map((fn) => (
                <FunctionRow key={fn.name} fn={fn} t={t} onNotice={onNotice} />
              ))}
            </tbody>
          </table>
        </div>
      </section>

      <section aria-labelledby="sys-topics">
        <h2 id="sys-topics">{t("sysTopics")}</h2>
        <div className={styles.grid}>
          {snapshot.topics.map((topic) => (
            <table key={topic.name} className={styles.table} data-topic={topic.name}>
              <caption>{topic.name}</caption>
              <thead>
                <tr>
                  <th scope="col">{t("colPartition")}</th>
                  <th scope="col">{t("sysColLeader")}</th>
                  <th scope="col">{t("sysColEnd")}</th>
                </tr>
              </thead>
              <tbody>
                {topic.partitions.map((p) => (
                  <tr key={p.partition}>
                    <td>{p.partition}</td>
                    <td>{p.leader}</td>
                    <td>{p.end}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ))}
        </div>
      </section>

      <section aria-labelledby="sys-groups">
        <h2 id="sys-groups">{t("sysGroups")}</h2>
        <div className={styles.scroller}>
          <table className={styles.table}>
            <thead>
              <tr>
                <th scope="col">{t("sysColGroup")}</th>
                <th scope="col">{t("colTopic")}</th>
                <th scope="col">{t("colPartition")}</th>
                <th scope="col">{t("sysColCommitted")}</th>
                <th scope="col">{t("sysColEnd")}</th>
                <th scope="col">{t("sysColLag")}</th>
              </tr>
            </thead>
            <tbody>
              {snapshot.groups.flatMap((g) =>
                g.partitions.map((p) => (
                  <tr key={`${g.group}/${g.topic}/${p.partition}`} data-lag-for={`${g.group}/${g.topic}/${p.partition}`}>
                    <td>{g.group}</td>
                    <td>{g.topic}</td>
                    <td>{p.partition}</td>
                    <td>{p.committed < 0 ? "—" : p.committed}</td>
                    <td>{p.end}</td>
                    <td className={p.lag > 0 ? styles.lagging : undefined}>{p.lag}</td>
                  </tr>
                )),
              )}
            </tbody>
          </table>
        </div>
      </section>

      <DeadLetters letters={snapshot.deadLetters} locale={locale} t={t} onNotice={onNotice} />
    </>
  );
}

function FunctionRow({ fn, t, onNotice }: { fn: SystemFunction; t: Translate; onNotice(n: Notice): void }) {
  const [replicas, setReplicas] = useState(String(fn.replicas));
  const [busy, setBusy] = useState(false);
  const scale = async () => {
    setBusy(true);
    const n = Number(replicas);
    const res = await post("/api/system/scale", { function: fn.name, replicas: n });
    setBusy(false);
    onNotice(
      res.ok
        ? { kind: "info", text: t("sysScaled", { name: fn.name, n }) }
        : { kind: "error", text: t("sysScaleFailed", { name: fn.name, message: res.message }) },
    );
  };
  return (
    <tr data-function={fn.name}>
      <th scope="row">
        {fn.name}
        <ul className={styles.instances}>
          {fn.instances.map((r) => (
            <li key={r.id} className={r.ready ? styles.ready : styles.starting}>
              {t("sysInstance", { id: r.id, state: t(r.ready ? "sysReady" : "sysStarting"), calls: r.calls })}
            </li>
          ))}
        </ul>
      </th>
      <td data-testid={`replicas-${fn.name}`}>
        {fn.availableReplicas} / {fn.replicas}
      </td>
      <td>
        {fn.min}–{fn.max}
        {fn.scaleToZero && <div className={styles.muted}>{t("sysToZero")}</div>}
      </td>
      <td>
        {fn.scaleType} {fn.target}
      </td>
      <td>{fn.rps.toFixed(1)}</td>
      <td>{ms(fn.p50)}</td>
      <td>{ms(fn.p99)}</td>
      <td>{fn.inFlight}</td>
      <td>{t("sysColdMean", { n: fn.coldStarts, ms: Math.round(fn.coldStartMean * 1000) })}</td>
      <td>
        <form
          className={styles.scale}
          onSubmit={(e) => {
            e.preventDefault();
            void scale();
          }}
        >
          <input
            type="number"
            min={0}
            max={fn.max}
            step={1}
            required
            value={replicas}
            aria-label={t("sysScaleLabel", { name: fn.name })}
            onChange={(e) => setReplicas(e.target.value)}
          />
          <button type="submit" disabled={busy}>
            {t("sysScale")}
          </button>
        </form>
      </td>
    </tr>
  );
}

function DeadLetters({
  letters,
  locale,
  t,
  onNotice,
}: {
  letters: DeadLetter[];
  locale: Locale;
  t: Translate;
  onNotice(n: Notice): void;
}) {
  const replay = async (dl: DeadLetter) => {
    const res = await post("/api/system/replay", { topic: dl.topic, partition: dl.partition, offset: dl.offset });
    const n = res.ok ? ((res.data as { replayed?: number } | null)?.replayed ?? 0) : 0;
    onNotice(
      res.ok
        ? { kind: "info", text: t("sysReplayed", { n }) }
        : { kind: "error", text: t("sysReplayFailed", { message: res.message }) },
    );
  };
  return (
    <section aria-labelledby="sys-dlq">
      <h2 id="sys-dlq">{t("sysDeadLetters")}</h2>
      {letters.length === 0 ? (
        <p className={styles.muted}>{t("sysDeadLettersNone")}</p>
      ) : (
        <div className={styles.scroller}>
          <table className={styles.table}>
            <thead>
              <tr>
                <th scope="col">{t("colTime")}</th>
                <th scope="col">{t("sysColFrom")}</th>
                <th scope="col">{t("sysColFunction")}</th>
                <th scope="col">{t("sysColStatus")}</th>
                <th scope="col">{t("sysColReason")}</th>
                <th scope="col">{t("sysColKey")}</th>
                <th scope="col" />
              </tr>
            </thead>
            <tbody>
              {letters.map((dl) => (
                <tr key={`${dl.topic}/${dl.partition}/${dl.offset}`} data-dead-letter={`${dl.topic}/${dl.partition}/${dl.offset}`}>
                  <td>{formatTime(locale, dl.time)}</td>
                  <td>
                    {dl.originalTopic}/{dl.originalPartition}/{dl.originalOffset}
                  </td>
                  <td>{dl.function}</td>
                  <td>{dl.status}</td>
                  <td className={styles.reason}>{dl.reason}</td>
                  <td>
                    <code>{dl.key}</code>
                  </td>
                  <td>
                    <button type="button" onClick={() => void replay(dl)}>
                      {t("sysReplay")}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
