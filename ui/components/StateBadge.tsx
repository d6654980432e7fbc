import type { PaymentState } from "@/lib/types";
import styles from "./StateBadge.module.css";

/**
 * StateBadge shows a payment's state as an icon and a word: the icon for the
 * eye, the word for everyone (screen readers and people who do not tell red
 * from green).
 */
export function StateBadge({ state, label }: { state: PaymentState; label: string }) {
  return (
    <span className={`${styles.badge} ${styles[state]}`} data-state={state}>
      {state === "pending" && <span className={styles.spinner} aria-hidden="true" />}
      {state === "completed" && (
        <svg className={styles.icon} viewBox="0 0 16 16" aria-hidden="true" focusable="false">
          <path d="M3 8.5l3.2 3L13 4.5" fill="none" stroke="currentColor" strokeWidth="2.2" strokeLinecap="round" strokeLinejoin="round" />
        </svg>
      )}
      {state === "rejected" && (
        <svg className={styles.icon} viewBox="0 0 16 16" aria-hidden="true" focusable="false">
          <path d="M4 4l8 8M12 4l-8 8" fill="none" stroke="currentColor" strokeWidth="2.2" strokeLinecap="round" />
        </svg>
      )}
      <span>{label}</span>
    </span>
  );
}
