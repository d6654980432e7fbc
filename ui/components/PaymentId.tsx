"use client";

import { useEffect, useState } from "react";
import type { Translate } from "@/lib/i18n";
import styles from "./PaymentId.module.css";

const COPIED_MS = 3_000;

/**
 * PaymentId shows a payment id, cut short where the table is wide, with a
 * button that copies the whole id: reachable by keyboard and touch, not only
 * by hovering. "Copied" shows (and is announced) for a moment; where the
 * browser refuses the clipboard (a page served over plain http from another
 * machine, for one) the whole id is shown instead, to be selected by hand.
 */
export function PaymentId({ id, t }: { id: string; t: Translate }) {
  const [copy, setCopy] = useState<"idle" | "copied" | "failed">("idle");

  useEffect(() => {
    if (copy !== "copied") return;
    const timer = setTimeout(() => setCopy("idle"), COPIED_MS);
    return () => clearTimeout(timer);
  }, [copy]);

  const copyId = async () => {
    try {
      await navigator.clipboard.writeText(id);
      setCopy("copied");
    } catch {
      setCopy("failed");
    }
  };

  return (
    <span className={styles.paymentId}>
      <span className={styles.line}>
        <code id={`payment-${id}`} className={copy === "failed" ? styles.whole : styles.short} title={id}>
          {id}
        </code>
        <button type="button" className={styles.copy} aria-label={t("copyIdLabel", { id })} title={t("copyId")} onClick={copyId}>
          <svg viewBox="0 0 16 16" aria-hidden="true" focusable="false">
            <rect x="5.5" y="5.5" width="8" height="8" rx="1.5" fill="none" stroke="currentColor" strokeWidth="1.5" />
            <path
              d="M10.5 3.5v-0.5a1.5 1.5 0 0 0-1.5-1.5h-5a1.5 1.5 0 0 0-1.5 1.5v5a1.5 1.5 0 0 0 1.5 1.5h0.5"
              fill="none"
              stroke="currentColor"
              strokeWidth="1.5"
            />
          </svg>
        </button>
      </span>
      <span role="status" className={copy === "copied" ? styles.note : copy === "failed" ? styles.failed : styles.silent}>
        {copy === "copied" ? t("copied") : copy === "failed" ? t("copyFailed") : ""}
      </span>
    </span>
  );
}
