import { LOCALES, translator, type Locale, type Translate } from "@/lib/i18n";
import styles from "./LanguageSwitch.module.css";

/** LanguageSwitch offers each language in its own name and its own language. */
export function LanguageSwitch({ locale, onChange, t }: { locale: Locale; onChange(l: Locale): void; t: Translate }) {
  return (
    <div className={styles.switch} role="group" aria-label={t("language")}>
      {LOCALES.map((l) => (
        <button
          key={l}
          type="button"
          lang={l}
          aria-pressed={l === locale}
          className={styles.option}
          onClick={() => onChange(l)}
        >
          {translator(l)("languageName")}
        </button>
      ))}
    </div>
  );
}
