import styles from "./StateBadge.module.css";

/** A small spinner for buttons; decorative, the button's text says what happens. */
export function Spinner() {
  return <span className={styles.spinner} aria-hidden="true" />;
}
