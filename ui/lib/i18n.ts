// The UI's two languages. English is the reference: the Russian dictionary must
// have every key (the type checks it), so a missing translation fails the build.

import type { FieldErrorKey } from "./validate";
import type { PaymentState } from "./types";

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
  charactersLeft: "{n} characters left",
  pay: "Pay",
  paying: "Paying…",
  tableHeading: "Your payments",
  loading: "Loading payments…",
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
  eventsCount: "{n} events",
  colTopic: "Topic",
  colPartition: "Partition",
  colOffset: "Offset",
  colType: "Type",
  colTime: "Time",
  notCloudEvent: "(not a CloudEvent)",
  notifications: "Notifications",
  dismiss: "Dismiss",
  errNetwork: "The server cannot be reached. Check the connection and try again.",
  errUnavailable: "The payment service is unavailable right now. Try again in {s} s; nothing was lost.",
  errGeneric: "Something went wrong: {message}",
  errLoad: "Your payments could not be loaded: {message}",
  errFix: "Check the highlighted fields.",
  err_accountRequired: "Enter the account number.",
  err_accountTooLong: "The account number can have at most 64 characters.",
  err_amountRequired: "Enter the amount.",
  err_amountFormat: "Enter a number such as 125.50.",
  err_amountDecimals: "Use at most 2 decimals.",
  err_amountPositive: "The amount must be greater than zero.",
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
};

export type Messages = typeof en;
export type MessageKey = keyof Messages;

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
  charactersLeft: "Осталось символов: {n}",
  pay: "Оплатить",
  paying: "Оплата…",
  tableHeading: "Ваши платежи",
  loading: "Загружаем платежи…",
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
  eventsCount: "Событий: {n}",
  colTopic: "Топик",
  colPartition: "Партиция",
  colOffset: "Смещение",
  colType: "Тип",
  colTime: "Время",
  notCloudEvent: "(не CloudEvent)",
  notifications: "Уведомления",
  dismiss: "Закрыть",
  errNetwork: "Сервер недоступен. Проверьте соединение и попробуйте ещё раз.",
  errUnavailable: "Платёжный сервис сейчас недоступен. Попробуйте через {s} с, ничего не потеряно.",
  errGeneric: "Что-то пошло не так: {message}",
  errLoad: "Не удалось загрузить платежи: {message}",
  errFix: "Исправьте отмеченные поля.",
  err_accountRequired: "Введите номер счёта.",
  err_accountTooLong: "Номер счёта — не больше 64 символов.",
  err_amountRequired: "Введите сумму.",
  err_amountFormat: "Введите число, например 125,50.",
  err_amountDecimals: "Не больше двух знаков после запятой.",
  err_amountPositive: "Сумма должна быть больше нуля.",
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

const dictionaries: Record<Locale, Messages> = { en, ru };

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

export function translator(locale: Locale): Translate {
  const dict = dictionaries[locale];
  return (key, params) => {
    let text: string = dict[key];
    for (const [name, value] of Object.entries(params ?? {})) {
      text = text.replaceAll(`{${name}}`, String(value));
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

/**
 * apiFieldMessage words a field error from the API for the reader. The API
 * speaks English in a handful of fixed phrases; those get a Russian version,
 * anything else is shown as the API wrote it.
 */
export function apiFieldMessage(locale: Locale, message: string): string {
  const m = message.trim();
  if (locale === "ru") {
    const rules: [RegExp, (x: RegExpMatchArray) => string][] = [
      [/^is required$/, () => "Обязательное поле."],
      [/^is empty$/, () => "Обязательное поле."],
      [/^must be greater than zero$/, () => "Должно быть больше нуля."],
      [/^must not exceed (.+)$/, (x) => `Не должно превышать ${x[1]}.`],
      [/^must be at most (\d+) characters$/, (x) => `Не больше ${x[1]} символов.`],
      [/^must have at most 2 decimals$/, () => "Не больше двух знаков после запятой."],
      [/^must not contain control characters$/, () => "Уберите управляющие символы."],
      [/^is too large$/, () => "Слишком большое число."],
      [/^must be a plain decimal number/, () => "Введите число, например 125,50."],
      [/^must be a number or a numeric string$/, () => "Введите число, например 125,50."],
    ];
    for (const [re, word] of rules) {
      const match = m.match(re);
      if (match) return word(match);
    }
  }
  const sentence = m.charAt(0).toUpperCase() + m.slice(1);
  return /[.!?]$/.test(sentence) ? sentence : `${sentence}.`;
}

/** Formats an instant as local date and time in the locale's style. */
export function formatTime(locale: Locale, iso: string | null): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(locale === "ru" ? "ru-RU" : "en-GB", {
    dateStyle: "short",
    timeStyle: "medium",
  }).format(d);
}

/** Formats the API's decimal amount text without ever making it a float. */
export function formatAmount(locale: Locale, amount: string): string {
  const [whole = "0", frac = "00"] = amount.split(".");
  const group = locale === "ru" ? "\u00a0" : ",";
  const point = locale === "ru" ? "," : ".";
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, group);
  return `${grouped}${point}${frac.padEnd(2, "0")}`;
}
