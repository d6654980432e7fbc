"use client";

import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { createPayment, newUser, NETWORK_ERROR, type ApiError } from "@/lib/client/api";
import { LOCALE_COOKIE, translator, type Locale, type Translate } from "@/lib/i18n";
import { isFinal, type NewPayment, type Payment, type WatchResult } from "@/lib/types";
import { useEventStream } from "@/hooks/useEventStream";
import { usePaymentList } from "@/hooks/usePaymentList";
import { useSettlement } from "@/hooks/useSettlement";
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

const isUnavailable = (e: ApiError) => e.status === 503 || e.code === "unavailable";

/** errorText says in one sentence why a call failed. */
function errorText(t: Translate, e: ApiError): string {
  if (e.code === NETWORK_ERROR) return t("errNetwork");
  if (isUnavailable(e)) return t("errUnavailable");
  return t("errGeneric", { message: e.message });
}

/**
 * payErrorText words a failed payment. Only here is "try again" safe advice
 * as it stands: the attempt keeps its idempotency key, so sending the form
 * again never pays twice, and a 503 means nothing was stored.
 */
function payErrorText(t: Translate, e: ApiError): string {
  if (e.code === NETWORK_ERROR) return t("errPayNetwork");
  if (isUnavailable(e)) return t("errPayUnavailable", { s: e.retryAfter ?? 5 });
  return errorText(t, e);
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
  const [toasts, setToasts] = useState<Toast[]>([]);
  const [announcement, setAnnouncement] = useState("");
  const nextToast = useRef(1);
  const t = useMemo(() => translator(locale), [locale]);
  const events = useEventStream("/api/events");

  const dismiss = useCallback((id: number) => setToasts((ts) => ts.filter((x) => x.id !== id)), []);
  // One toast per distinct notice: the same text again (a payment refused twice
  // by the same outage, or polling that fails again after a result came)
  // replaces the one shown with a new one at the end, with a fresh timeout
  // (the old one's finds nothing), instead of stacking a copy.
  const toast = useCallback(
    (kind: Toast["kind"], text: string) => {
      const id = nextToast.current++;
      setToasts((ts) => [...ts.filter((x) => x.text !== text).slice(-3), { id, kind, text }]);
      setTimeout(() => dismiss(id), TOAST_MS);
    },
    [dismiss],
  );

  const list = usePaymentList(userId, (loaded) => setPayments((local) => loaded.reduce(upsert, local)));

  const pendingIds = useMemo(() => payments.filter((p) => !isFinal(p.state)).map((p) => p.paymentId), [payments]);
  useSettlement(pendingIds, {
    onNews: ({ payments: settled, missing }: WatchResult) => {
      setPayments((list) => settled.reduce(upsert, list).filter((p) => !missing.includes(p.paymentId)));
      const last = settled[settled.length - 1];
      if (last) setAnnouncement(t(`announce_${last.state as "completed" | "rejected"}`, { id: last.paymentId.slice(0, 8) }));
    },
    onTrouble: (error) => toast("error", t("errWatch", { reason: errorText(t, error) })),
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
      toast("error", payErrorText(t, res.error));
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
        <div className={styles.heading}>
          <h1 className={styles.title}>{t("title")}</h1>
          <p className={styles.tagline} data-testid="tagline">
            {t("tagline")}
          </p>
        </div>
        <div className={styles.tools}>
          <div className={styles.links}>
            <a href="/system">{t("systemLink")}</a>
            <LanguageSwitch locale={locale} onChange={changeLocale} t={t} />
          </div>
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
        <PaymentsTable
          payments={payments}
          loading={list.state.status === "loading"}
          loadError={list.state.status === "failed" ? { text: t("errLoad", { reason: errorText(t, list.state.error) }), retrying: list.state.retrying } : undefined}
          onRetry={list.retryNow}
          locale={locale}
          t={t}
        />
        {events.available && <EventsPanel payments={payments} eventsFor={events.eventsFor} locale={locale} t={t} />}
      </main>

      <p className={styles.visuallyHidden} role="status" aria-live="polite" aria-atomic="true">
        {announcement}
      </p>
      <Toasts toasts={toasts} onDismiss={dismiss} t={t} />
    </>
  );
}
