import type { Translate } from "@/lib/i18n";
import styles from "./Toasts.module.css";

export interface Toast {
  id: number;
  kind: "error" | "info";
  text: string;
}

/**
 * Toasts shows short-lived notices in a corner. The region is always in the
 * document, so screen readers announce what is added to it: errors
 * assertively (role="alert"), the rest politely.
 */
export function Toasts({ toasts, onDismiss, t }: { toasts: readonly Toast[]; onDismiss(id: number): void; t: Translate }) {
  return (
    <div className={styles.region} role="region" aria-label={t("notifications")}>
      {toasts.map((toast) => (
        <div
          key={toast.id}
          className={`${styles.toast} ${styles[toast.kind]}`}
          role={toast.kind === "error" ? "alert" : "status"}
        >
          <p>{toast.text}</p>
          <button type="button" className={styles.close} onClick={() => onDismiss(toast.id)} aria-label={t("dismiss")}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
