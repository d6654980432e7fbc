import { formatTime, type Locale, type Translate } from "@/lib/i18n";
import type { Payment, StreamEvent } from "@/lib/types";
import styles from "./EventsPanel.module.css";

interface Props {
  payments: readonly Payment[];
  eventsFor(paymentId: string): StreamEvent[];
  locale: Locale;
  t: Translate;
}

/** EventsPanel shows, per payment, the Kafka records it produced. */
export function EventsPanel({ payments, eventsFor, locale, t }: Props) {
  return (
    <section className={styles.panel} aria-labelledby="events-heading">
      <h2 id="events-heading">{t("eventsHeading")}</h2>
      <p className={styles.intro}>{t("eventsIntro")}</p>
      {payments.length === 0 && <p className={styles.intro}>{t("eventsNone")}</p>}
      {payments.map((p) => {
        const events = eventsFor(p.paymentId);
        return (
          <details key={p.paymentId} className={styles.payment} data-events-for={p.paymentId}>
            <summary>
              <code>{p.paymentId.slice(0, 8)}</code> {p.description && <span>{p.description} · </span>}
              <span className={styles.count}>{t("eventsCount", { n: events.length })}</span>
            </summary>
            <p className={styles.intro}>
              {t("colPayment")} <code>{p.paymentId}</code>
            </p>
            {events.length === 0 ? (
              <p className={styles.intro}>{t("eventsNone")}</p>
            ) : (
              <div className={styles.scroller}>
                <table className={styles.table}>
                  <thead>
                    <tr>
                      <th scope="col">{t("colTopic")}</th>
                      <th scope="col">{t("colPartition")}</th>
                      <th scope="col">{t("colOffset")}</th>
                      <th scope="col">{t("colType")}</th>
                      <th scope="col">{t("colTime")}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {events.map((e) => (
                      <tr key={`${e.topic}/${e.partition}/${e.offset}`} data-event-type={e.cloudEvent?.type ?? ""}>
                        <td>{e.topic}</td>
                        <td>{e.partition}</td>
                        <td>{e.offset}</td>
                        <td className={styles.type}>{e.cloudEvent?.type ?? t("notCloudEvent")}</td>
                        <td>{formatTime(locale, e.cloudEvent?.time || e.timestamp)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </details>
        );
      })}
    </section>
  );
}
