// The UI's two languages. English is the reference: the Russian dictionary must
// have every key (the type checks it), so a missing translation fails the build.
// A message with a count is a Plural: one text per plural category of the
// language (Intl.PluralRules), chosen by the parameter n.

import type { FieldErrorKey } from "./validate";
import type { PaymentState } from "./types";

/** A message per plural category; "other" is required, the rest as the language needs them. */
export type Plural = { readonly [C in Intl.LDMLPluralRule]?: string } & { readonly other: string };

export const LOCALES = ["en", "ru"] as const;
export type Locale = (typeof LOCALES)[number];
export const DEFAULT_LOCALE: Locale = "en";
export const LOCALE_COOKIE = "pp_locale";

const en = {
  languageName: "English",
  language: "Language",
  title: "Payment Pet",
  tagline: "Pay into an account and watch the provider's answer arrive.",
  userId: "Your user ID",
  newUser: "New user",
  newUserDone: "You are a new user now, with no payments yet.",
  formHeading: "New payment",
  accountNumber: "Account number",
  amount: "Amount",
  amountHint: "For example 125.50",
  description: "Purpose",
  optional: "optional",
  charactersLeft: { one: "{n} character left", other: "{n} characters left" },
  charactersOver: { one: "{n} character too many", other: "{n} characters too many" },
  pay: "Pay",
  paying: "Paying…",
  tableHeading: "Your payments",
  loading: "Loading payments…",
  loadRetrying: "The page tries again by itself, waiting longer each time.",
  loadRetry: "Try again now",
  empty: "No payments yet. The ones you make appear here.",
  colPayment: "Payment",
  colAccount: "Account",
  colAmount: "Amount",
  colPurpose: "Purpose",
  colCreated: "Created",
  colProcessed: "Processed",
  colState: "State",
  colDetails: "Provider details",
  state_pending: "Pending",
  state_completed: "Completed",
  state_rejected: "Rejected",
  announceCreated: "Payment {id} created; waiting for the provider.",
  announce_completed: "Payment {id} completed.",
  announce_rejected: "Payment {id} rejected.",
  eventsHeading: "Events",
  eventsIntro: "The CloudEvents each payment produced, as the gateway saw them on Kafka.",
  eventsNone: "No events yet.",
  eventsCount: { one: "{n} event", other: "{n} events" },
  colTopic: "Topic",
  colPartition: "Partition",
  colOffset: "Offset",
  colType: "Type",
  colTime: "Time",
  notCloudEvent: "(not a CloudEvent)",
  notifications: "Notifications",
  dismiss: "Dismiss",
  copyId: "Copy the whole ID",
  copyIdLabel: "Copy payment ID {id}",
  copied: "Copied",
  copyFailed: "Copying is not available here: the whole ID is shown instead.",
  errNetwork: "The server cannot be reached. Check the connection.",
  errUnavailable: "The payment service is unavailable right now.",
  errGeneric: "Something went wrong: {message}",
  errLoad: "Your payments could not be loaded. {reason}",
  errWatch: "Results cannot be checked right now. {reason} The page keeps trying.",
  errPayNetwork: "The server cannot be reached. Check the connection and press Pay again: the payment will not be made twice.",
  errPayUnavailable: "The payment service is unavailable right now, so the payment was not made. Your form is kept: try again in {s} s.",
  errFix: "Check the highlighted fields.",
  err_accountRequired: "Enter the account number.",
  err_accountTooLong: "The account number can have at most 64 characters.",
  err_amountRequired: "Enter the amount.",
  err_amountFormat: "Enter a number such as 125.50.",
  err_amountDecimals: "Use at most 2 decimals.",
  err_amountPositive: "The amount must be greater than zero.",
  err_amountMax: "The amount must not exceed {max}.",
  err_amountTooLarge: "The amount is too large.",
  err_other: "{field} {message}.",
  err_descriptionTooLong: "The purpose can have at most 500 characters.",
  err_controlCharacters: "Remove the line breaks and other control characters.",
  systemLink: "System",
  sysTitle: "System",
  sysIntro: "The stack as it runs, updated every second: functions and their replicas, Kafka's topics and consumer groups, dead letters.",
  sysBack: "Payments",
  sysLive: "Live",
  sysWaiting: "Waiting for the gateway…",
  sysUnavailable: "No overview: this gateway has none, or it cannot be reached. Retrying.",
  sysKafkaError: "Kafka: {message}",
  sysFunctions: "Functions",
  sysColFunction: "Function",
  sysColReplicas: "Ready / wanted",
  sysColLimits: "Min–max",
  sysColScaling: "Scales on",
  sysColRps: "Calls/s",
  sysColP50: "p50",
  sysColP99: "p99",
  sysColInFlight: "In flight",
  sysColColdStarts: "Cold starts",
  sysColScale: "Scale to",
  sysScale: "Scale",
  sysScaleLabel: "Replicas of {name}",
  sysScaled: "{name}: {n} replicas asked for.",
  sysScaleFailed: "Scaling {name} failed: {message}",
  sysToZero: "to zero when idle",
  sysColdMean: "{n} (mean {ms} ms)",
  sysInstance: "#{id} {state}, {calls} calls",
  sysReady: "ready",
  sysStarting: "starting",
  sysTopics: "Topics",
  sysColLeader: "Leader",
  sysColEnd: "End offset",
  sysGroups: "Consumer groups",
  sysColGroup: "Group",
  sysColCommitted: "Committed",
  sysColLag: "Lag",
  sysDeadLetters: "Dead letters",
  sysDeadLettersNone: "No dead letters.",
  sysColFrom: "From",
  sysColStatus: "Status",
  sysColReason: "Reason",
  sysColKey: "Key",
  sysReplay: "Replay",
  sysReplayed: "Replayed {n}.",
  sysReplayFailed: "Replay failed: {message}",
} satisfies Record<string, string | Plural>;

export type MessageKey = keyof typeof en;
/** A dictionary: the same keys as English, a Plural where English has one. */
export type Messages = { [K in MessageKey]: (typeof en)[K] extends string ? string : Plural };

const ru: Messages = {
  languageName: "Русский",
  language: "Язык",
  title: "Payment Pet",
  tagline: "Переведите деньги на счёт и следите, как приходит ответ провайдера.",
  userId: "Ваш идентификатор пользователя",
  newUser: "Новый пользователь",
  newUserDone: "Теперь вы новый пользователь, платежей пока нет.",
  formHeading: "Новый платёж",
  accountNumber: "Номер счёта",
  amount: "Сумма",
  amountHint: "Например, 125,50",
  description: "Назначение",
  optional: "необязательно",
  charactersLeft: { one: "Остался {n} символ", few: "Осталось {n} символа", many: "Осталось {n} символов", other: "Осталось {n} символа" },
  charactersOver: {
    one: "На {n} символ больше допустимого",
    few: "На {n} символа больше допустимого",
    many: "На {n} символов больше допустимого",
    other: "На {n} символа больше допустимого",
  },
  pay: "Оплатить",
  paying: "Оплата…",
  tableHeading: "Ваши платежи",
  loading: "Загружаем платежи…",
  loadRetrying: "Страница пробует снова сама, с растущими паузами.",
  loadRetry: "Повторить сейчас",
  empty: "Платежей пока нет. Созданные вами появятся здесь.",
  colPayment: "Платёж",
  colAccount: "Счёт",
  colAmount: "Сумма",
  colPurpose: "Назначение",
  colCreated: "Создан",
  colProcessed: "Обработан",
  colState: "Статус",
  colDetails: "Ответ провайдера",
  state_pending: "В обработке",
  state_completed: "Проведён",
  state_rejected: "Отклонён",
  announceCreated: "Платёж {id} создан, ждём ответа провайдера.",
  announce_completed: "Платёж {id} проведён.",
  announce_rejected: "Платёж {id} отклонён.",
  eventsHeading: "События",
  eventsIntro: "События CloudEvents каждого платежа, какими шлюз увидел их в Kafka.",
  eventsNone: "Событий пока нет.",
  eventsCount: { one: "{n} событие", few: "{n} события", many: "{n} событий", other: "{n} события" },
  colTopic: "Топик",
  colPartition: "Партиция",
  colOffset: "Смещение",
  colType: "Тип",
  colTime: "Время",
  notCloudEvent: "(не CloudEvent)",
  notifications: "Уведомления",
  dismiss: "Закрыть",
  copyId: "Скопировать идентификатор целиком",
  copyIdLabel: "Скопировать идентификатор платежа {id}",
  copied: "Скопировано",
  copyFailed: "Копирование здесь недоступно: идентификатор показан целиком.",
  errNetwork: "Сервер недоступен. Проверьте соединение.",
  errUnavailable: "Платёжный сервис сейчас недоступен.",
  errGeneric: "Что-то пошло не так: {message}",
  errLoad: "Не удалось загрузить платежи. {reason}",
  errWatch: "Результаты сейчас не проверить. {reason} Страница продолжает попытки.",
  errPayNetwork: "Сервер недоступен. Проверьте соединение и нажмите «Оплатить» ещё раз: дважды платёж не пройдёт.",
  errPayUnavailable: "Платёжный сервис сейчас недоступен, платёж не создан. Форма сохранена: попробуйте через {s} с.",
  errFix: "Исправьте отмеченные поля.",
  err_accountRequired: "Введите номер счёта.",
  err_accountTooLong: "Номер счёта — не больше 64 символов.",
  err_amountRequired: "Введите сумму.",
  err_amountFormat: "Введите число, например 125,50.",
  err_amountDecimals: "Не больше двух знаков после запятой.",
  err_amountPositive: "Сумма должна быть больше нуля.",
  err_amountMax: "Сумма не должна превышать {max}.",
  err_amountTooLarge: "Сумма слишком большая.",
  err_other: "{field}: {message}.",
  err_descriptionTooLong: "Назначение — не больше 500 символов.",
  err_controlCharacters: "Уберите переводы строк и другие управляющие символы.",
  systemLink: "Система",
  sysTitle: "Система",
  sysIntro: "Стенд в работе, обновляется каждую секунду: функции и их реплики, топики и группы потребителей Kafka, недоставленные сообщения.",
  sysBack: "Платежи",
  sysLive: "В эфире",
  sysWaiting: "Ждём шлюз…",
  sysUnavailable: "Обзора нет: у этого шлюза его нет или шлюз недоступен. Повторяем.",
  sysKafkaError: "Kafka: {message}",
  sysFunctions: "Функции",
  sysColFunction: "Функция",
  sysColReplicas: "Готовы / нужно",
  sysColLimits: "Мин–макс",
  sysColScaling: "Масштаб по",
  sysColRps: "Вызовов/с",
  sysColP50: "p50",
  sysColP99: "p99",
  sysColInFlight: "В работе",
  sysColColdStarts: "Холодные старты",
  sysColScale: "Масштаб",
  sysScale: "Задать",
  sysScaleLabel: "Реплики {name}",
  sysScaled: "{name}: запрошено реплик: {n}.",
  sysScaleFailed: "Не удалось масштабировать {name}: {message}",
  sysToZero: "до нуля в простое",
  sysColdMean: "{n} (в среднем {ms} мс)",
  sysInstance: "№{id} {state}, вызовов: {calls}",
  sysReady: "готова",
  sysStarting: "запускается",
  sysTopics: "Топики",
  sysColLeader: "Лидер",
  sysColEnd: "Конечное смещение",
  sysGroups: "Группы потребителей",
  sysColGroup: "Группа",
  sysColCommitted: "Зафиксировано",
  sysColLag: "Отставание",
  sysDeadLetters: "Недоставленные сообщения",
  sysDeadLettersNone: "Недоставленных сообщений нет.",
  sysColFrom: "Откуда",
  sysColStatus: "Статус",
  sysColReason: "Причина",
  sysColKey: "Ключ",
  sysReplay: "Повторить",
  sysReplayed: "Повторено: {n}.",
  sysReplayFailed: "Повтор не удался: {message}",
};

export const DICTIONARIES: Readonly<Record<Locale, Messages>> = { en, ru };

export function isLocale(s: string | null | undefined): s is Locale {
  return (LOCALES as readonly string[]).includes(s ?? "");
}

/**
 * pickLocale chooses the saved locale, else the first supported language of an
 * Accept-Language header, else English.
 */
export function pickLocale(saved: string | undefined, acceptLanguage: string | null): Locale {
  if (isLocale(saved)) return saved;
  const wanted = (acceptLanguage ?? "")
    .split(",")
    .map((part) => {
      const [tag = "", ...params] = part.trim().split(";");
      const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
      return { lang: tag.toLowerCase().split("-")[0] ?? "", q: q ? Number(q.slice(2)) : 1 };
    })
    .filter((x) => x.lang !== "" && x.q > 0)
    .sort((a, b) => b.q - a.q);
  return wanted.map((x) => x.lang).find(isLocale) ?? DEFAULT_LOCALE;
}

export type Translate = (key: MessageKey, params?: Record<string, string | number>) => string;

/** The BCP 47 tag whose conventions (numbers, dates, plurals) each locale follows. */
const TAGS: Record<Locale, string> = { en: "en-GB", ru: "ru-RU" };

/** pluralText picks the form of a Plural for the count n in the locale's rules. */
export function pluralText(locale: Locale, forms: Plural, n: number): string {
  return forms[new Intl.PluralRules(TAGS[locale]).select(n)] ?? forms.other;
}

/**
 * translator returns t(key, params) for a locale: "{name}" in the message is
 * replaced by params.name, a number written in the locale's style, and a
 * Plural takes the form for params.n.
 */
export function translator(locale: Locale): Translate {
  const dict = DICTIONARIES[locale];
  const numbers = new Intl.NumberFormat(TAGS[locale]);
  return (key, params = {}) => {
    const message: string | Plural = dict[key];
    let text = typeof message === "string" ? message : pluralText(locale, message, Number(params.n ?? 0));
    for (const [name, value] of Object.entries(params)) {
      text = text.replaceAll(`{${name}}`, typeof value === "number" ? numbers.format(value) : value);
    }
    return text;
  };
}

export function stateLabel(t: Translate, state: PaymentState): string {
  return t(`state_${state}`);
}

export function fieldErrorText(t: Translate, key: FieldErrorKey): string {
  return t(`err_${key}`);
}

/** The form's fields as the API names them, each with its label. */
const FIELD_LABELS = { accountNumber: "accountNumber", amount: "amount", description: "description" } as const;
export type ApiField = keyof typeof FIELD_LABELS;

/**
 * apiFieldMessage words a field error from the API in the form's own words.
 * The API speaks English in a handful of fixed phrases (functions/pkg/payment);
 * each known one becomes the message the form itself would show, with the
 * field as its subject and amounts grouped in the locale's style. Anything
 * else is shown as the API wrote it, after the field's name.
 */
export function apiFieldMessage(locale: Locale, field: ApiField, message: string): string {
  const t = translator(locale);
  const m = message.trim().replace(/[.]$/, "");
  const rules: [RegExp, ApiField | "any", (x: RegExpMatchArray) => string][] = [
    [/^(is required|is empty)$/, "accountNumber", () => t("err_accountRequired")],
    [/^(is required|is empty)$/, "amount", () => t("err_amountRequired")],
    [/^must be greater than zero$/, "amount", () => t("err_amountPositive")],
    [/^must not exceed (\d+(?:\.\d+)?)$/, "amount", (x) => t("err_amountMax", { max: formatAmount(locale, x[1]!) })],
    [/^is too large$/, "amount", () => t("err_amountTooLarge")],
    [/^must have at most 2 decimals$/, "amount", () => t("err_amountDecimals")],
    [/^must be (a plain decimal number|a number or a numeric string)/, "amount", () => t("err_amountFormat")],
    [/^must be at most \d+ characters$/, "accountNumber", () => t("err_accountTooLong")],
    [/^must be at most \d+ characters$/, "description", () => t("err_descriptionTooLong")],
    [/^must not contain control characters$/, "any", () => t("err_controlCharacters")],
  ];
  for (const [re, forField, word] of rules) {
    const match = forField === "any" || forField === field ? m.match(re) : null;
    if (match) return word(match);
  }
  return t("err_other", { field: t(FIELD_LABELS[field]), message: m });
}

/** Formats an instant as local date and time in the locale's style. */
export function formatTime(locale: Locale, iso: string | null): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(TAGS[locale], {
    dateStyle: "short",
    timeStyle: "medium",
  }).format(d);
}

/**
 * Formats the API's decimal amount text in the locale's style without ever
 * making it a float: the whole part is grouped as a BigInt, the decimals are
 * kept as written.
 */
export function formatAmount(locale: Locale, amount: string): string {
  const match = /^(\d+)(?:\.(\d*))?$/.exec(amount);
  if (!match) return amount;
  const format = new Intl.NumberFormat(TAGS[locale]);
  const point = format.formatToParts(0.5).find((p) => p.type === "decimal")?.value ?? ".";
  return `${format.format(BigInt(match[1]!))}${point}${(match[2] ?? "").padEnd(2, "0")}`;
}
