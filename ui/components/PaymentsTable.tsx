import { formatAmount, formatTime, stateLabel, type Locale, type Translate } from "@/lib/i18n";
import type { Payment } from "@/lib/types";
import { PaymentId } from "./PaymentId";
import { StateBadge } from "./StateBadge";
import styles from "./PaymentsTable.module.css";

interface Props {
  payments: readonly Payment[];
  loading: boolean;
  /** Why the list could not be loaded, and whether the page keeps trying by itself. */
  loadError?: { text: string; retrying: boolean };
  onRetry?(): void;
  locale: Locale;
  t: Translate;
}

/**
 * PaymentsTable lists the user's payments, newest first. On a narrow screen
 * each row becomes a card whose cells carry their column name (data-label).
 */
export function PaymentsTable({ payments, loading, loadError, onRetry, locale, t }: Props) {
  return (
    <section className={styles.section} aria-labelledby="payments-heading" aria-busy={loading}>
      <h2 id="payments-heading">{t("tableHeading")}</h2>
      {loadError && (
        <div className={styles.loadError} data-testid="load-error">
          <p role="alert">{loadError.text}</p>
          {loadError.retrying && <p className={styles.empty}>{t("loadRetrying")}</p>}
          {onRetry && (
            <button type="button" className={styles.retry} onClick={onRetry}>
              {t("loadRetry")}
            </button>
          )}
        </div>
      )}
      {payments.length === 0 ? (
        !loadError && <p className={styles.empty}>{loading ? t("loading") : t("empty")}</p>
      ) : (
        <div className={styles.scroller}>
          <table className={styles.table} aria-labelledby="payments-heading">
            <thead>
              <tr>
                <th scope="col">{t("colPayment")}</th>
                <th scope="col">{t("colAccount")}</th>
                <th scope="col" className={styles.num}>
                  {t("colAmount")}
                </th>
                <th scope="col">{t("colPurpose")}</th>
                <th scope="col">{t("colCreated")}</th>
                <th scope="col">{t("colProcessed")}</th>
                <th scope="col">{t("colState")}</th>
                <th scope="col">{t("colDetails")}</th>
              </tr>
            </thead>
            <tbody>
              {payments.map((p) => (
                <tr key={p.paymentId} data-payment-id={p.paymentId} data-state={p.state}>
                  <th scope="row" data-label={t("colPayment")} aria-labelledby={`payment-${p.paymentId}`}>
                    <PaymentId id={p.paymentId} t={t} />
                  </th>
                  <td data-label={t("colAccount")} className={styles.account}>
                    {p.accountNumber}
                  </td>
                  <td data-label={t("colAmount")} className={styles.num}>
                    {formatAmount(locale, p.amount)}
                  </td>
                  <td data-label={t("colPurpose")} className={styles.wrap}>
                    {p.description || "—"}
                  </td>
                  <td data-label={t("colCreated")}>{formatTime(locale, p.created)}</td>
                  <td data-label={t("colProcessed")}>{formatTime(locale, p.processed)}</td>
                  <td data-label={t("colState")}>
                    <StateBadge state={p.state} label={stateLabel(t, p.state)} />
                  </td>
                  <td data-label={t("colDetails")} className={styles.wrap}>
                    {p.extPaymentDetails ?? "—"}
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
