"use client";

import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { createPayment, listPayments, newUser, NETWORK_ERROR, type ApiError } from "@/lib/client/api";
import { LOCALE_COOKIE, translator, type Locale, type Translate } from "@/lib/i18n";
import { isFinal, type NewPayment, type Payment, type WatchResult } from "@/lib/types";
import { useEventStream } from "@/hooks/useEventStream";
import { sleep, useSettlement } from "@/hooks/useSettlement";
import { EventsPanel } from "./EventsPanel";
import { LanguageSwitch } from "./LanguageSwitch";
import { PaymentForm, type SubmitOutcome } from "./PaymentForm";
import { PaymentsTable } from "./PaymentsTable";
import { Toasts, type Toast } from "./Toasts";
import styles from "./PaymentsApp.module.css";

const TOAST_MS = 10_000;
const ONE_YEAR_SECONDS = 365 * 24 * 60 * 60;

interface Props {
  userId: string;
  locale: Locale;
}

/** errorText words an API error for a toast. */
function errorText(t: Translate, e: ApiError): string {
  if (e.code === NETWORK_ERROR) return t("errNetwork");
  if (e.status === 503 || e.code === "unavailable") return t("errUnavailable", { s: e.retryAfter ?? 5 });
  return t("errGeneric", { message: e.message });
}

/**
 * upsert puts p in the list, replacing an older copy, and keeps the list newest
 * first. A state never goes back: answers may arrive out of order, and a
 * settled payment stays settled.
 */
export function upsert(list: readonly Payment[], p: Payment): Payment[] {
  const old = list.find((x) => x.paymentId === p.paymentId);
  if (old && isFinal(old.state) && !isFinal(p.state)) return [...list];
  const rest = list.filter((x) => x.paymentId !== p.paymentId);
  return [p, ...rest].sort((a, b) => b.created.localeCompare(a.created));
}

/**
 * PaymentsApp is the page: who the user is, the form, the payments with their
 * results as they arrive, and the events behind them.
 */
export function PaymentsApp({ userId: initialUserId, locale: initialLocale }: Props) {
  const [locale, setLocale] = useState<Locale>(initialLocale);
  const [userId, setUserId] = useState(initialUserId);
  const [payments, setPayments] = useState<Payment[]>([]);
  const [loading, setLoading] = useState(true);
  const [toasts, setToasts] = useState<Toast[]>([]);
  const [announcement, setAnnouncement] = useState("");
  const nextToast = useRef(1);
  const t = useMemo(() => translator(locale), [locale]);
  const events = useEventStream("/api/events");

  const dismiss = useCallback((id: number) => setToasts((ts) => ts.filter((x) => x.id !== id)), []);
  const toast = useCallback(
    (kind: Toast["kind"], text: string) => {
      const id = nextToast.current++;
      setToasts((ts) => [...ts.slice(-3), { id, kind, text }]);
      setTimeout(() => dismiss(id), TOAST_MS);
    },
    [dismiss],
  );

  // The table survives a reload: it is the API's list of this user's payments.
  // While the API cannot be reached the page says so once and keeps trying.
  useEffect(() => {
    const stop = new AbortController();
    setLoading(true);
    void (async () => {
      let backoff = 2_000;
      for (let attempt = 0; ; attempt++) {
        let res;
        try {
          res = await listPayments(stop.signal);
        } catch {
          return; // aborted: another user, or the page went away
        }
        if (res.ok) {
          setPayments((local) => res.data.payments.reduce(upsert, local));
          setLoading(false);
          return;
        }
        if (attempt === 0) toast("error", t("errLoad", { message: errorText(t, res.error) }));
        if (res.error.status > 0 && res.error.status < 500) {
          setLoading(false);
          return; // the request itself is wrong: trying again will not help
        }
        await sleep(res.error.retryAfter ? res.error.retryAfter * 1000 : backoff, stop.signal);
        if (stop.signal.aborted) return;
        backoff = Math.min(backoff * 2, 30_000);
      }
    })();
    return () => stop.abort();
    // Only a new user reloads the list; t is left out so that switching the
    // language does not.
  }, [userId, toast]);

  const pendingIds = useMemo(() => payments.filter((p) => !isFinal(p.state)).map((p) => p.paymentId), [payments]);
  useSettlement(pendingIds, {
    onNews: ({ payments: settled, missing }: WatchResult) => {
      setPayments((list) => settled.reduce(upsert, list).filter((p) => !missing.includes(p.paymentId)));
      const last = settled[settled.length - 1];
      if (last) setAnnouncement(t(`announce_${last.state as "completed" | "rejected"}`, { id: last.paymentId.slice(0, 8) }));
    },
    onTrouble: (error) => toast("error", errorText(t, error)),
  });

  const submit = async (p: NewPayment, key: string): Promise<SubmitOutcome> => {
    const res = await createPayment(p, key);
    if (res.ok) {
      setPayments((list) => upsert(list, res.data));
      setAnnouncement(t("announceCreated", { id: res.data.paymentId.slice(0, 8) }));
      return { ok: true };
    }
    const fields = res.error.fields ?? {};
    const formFields = ["accountNumber", "amount", "description"];
    if (Object.keys(fields).some((f) => formFields.includes(f))) {
      setAnnouncement(t("errFix"));
    } else {
      toast("error", errorText(t, res.error));
    }
    return { ok: false, fields };
  };

  const changeLocale = (l: Locale) => {
    setLocale(l);
    document.documentElement.lang = l;
    document.cookie = `${LOCALE_COOKIE}=${l}; path=/; max-age=${ONE_YEAR_SECONDS}; samesite=lax`;
  };

  const startOver = async () => {
    const res = await newUser();
    if (!res.ok) {
      toast("error", errorText(t, res.error));
      return;
    }
    setPayments([]);
    setUserId(res.data.userId);
    toast("info", t("newUserDone"));
  };

  return (
    <>
      <header className={styles.header}>
        <div>
          <h1 className={styles.title}>{t("title")}</h1>
          <p className={styles.tagline}>{t("tagline")}</p>
        </div>
        <div className={styles.tools}>
          <a href="/system">{t("systemLink")}</a>
          <LanguageSwitch locale={locale} onChange={changeLocale} t={t} />
          <div className={styles.user}>
            <span id="user-label" className={styles.userLabel}>
              {t("userId")}
            </span>
            <code aria-labelledby="user-label" data-testid="user-id">
              {userId}
            </code>
            <button type="button" className={styles.secondary} onClick={startOver}>
              {t("newUser")}
            </button>
          </div>
        </div>
      </header>

      <main className={styles.main}>
        <PaymentForm locale={locale} t={t} onSubmit={submit} />
        <PaymentsTable payments={payments} loading={loading} locale={locale} t={t} />
        {events.available && <EventsPanel payments={payments} eventsFor={events.eventsFor} locale={locale} t={t} />}
      </main>

      <p className={styles.visuallyHidden} role="status" aria-live="polite" aria-atomic="true">
        {announcement}
      </p>
      <Toasts toasts={toasts} onDismiss={dismiss} t={t} />
    </>
  );
}
