import { formatAmount, formatTime, stateLabel, type Locale, type Translate } from "@/lib/i18n";
import type { Payment } from "@/lib/types";
import { StateBadge } from "./StateBadge";
import styles from "./PaymentsTable.module.css";

interface Props {
  payments: readonly Payment[];
  loading: boolean;
  locale: Locale;
  t: Translate;
}

/**
 * PaymentsTable lists the user's payments, newest first. On a narrow screen
 * each row becomes a card whose cells carry their column name (data-label).
 */
export function PaymentsTable({ payments, loading, locale, t }: Props) {
  return (
    <section className={styles.section} aria-labelledby="payments-heading" aria-busy={loading}>
      <h2 id="payments-heading">{t("tableHeading")}</h2>
      {payments.length === 0 ? (
        <p className={styles.empty}>{loading ? t("loading") : t("empty")}</p>
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
                  <th scope="row" data-label={t("colPayment")} className={styles.id}>
                    <code title={p.paymentId}>{p.paymentId}</code>
                  </th>
                  <td data-label={t("colAccount")} className={styles.wrap}>
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
