// Shapes shared by the browser and the server routes. They follow
// docs/contracts.md: change them there first.

export type PaymentState = "pending" | "completed" | "rejected";

export interface Payment {
  paymentId: string;
  userId: string;
  accountNumber: string;
  /** A decimal string with two decimals, such as "125.50": money is never a float. */
  amount: string;
  description: string;
  state: PaymentState;
  created: string;
  processed: string | null;
  extPaymentDetails: string | null;
}

/** The body of every error answer: the gateway's and the UI server's alike. */
export interface ApiErrorBody {
  error: {
    code: string;
    message: string;
    /** Present only when specific fields are wrong; keys are JSON field names. */
    fields?: Record<string, string>;
  };
}

/** What the browser sends to create a payment; the server adds the user id. */
export interface NewPayment {
  accountNumber: string;
  amount: string;
  description: string;
}

/**
 * The most payment ids one /api/watch request may name: each is one long-poll
 * at the gateway, and the page asks again for the rest once one settles.
 */
export const MAX_WATCHED_IDS = 10;

/** The answer of /api/watch: payments that left pending, and ids that no longer exist. */
export interface WatchResult {
  payments: Payment[];
  missing: string[];
}

/** One Kafka record from the local gateway's /system/events stream. */
export interface StreamEvent {
  topic: string;
  partition: number;
  offset: number;
  key: string;
  timestamp: string;
  cloudEvent: {
    id: string;
    type: string;
    source: string;
    subject: string;
    time: string;
  } | null;
}

export function isFinal(state: PaymentState): boolean {
  return state === "completed" || state === "rejected";
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUUID(s: string | null | undefined): s is string {
  return typeof s === "string" && UUID_RE.test(s);
}

/** One snapshot of the local gateway's /system/overview stream (package local/overview). */
export interface SystemSnapshot {
  time: string;
  functions: SystemFunction[];
  topics: { name: string; partitions: { partition: number; leader: number; start: number; end: number }[] }[];
  groups: { group: string; topic: string; partitions: { partition: number; committed: number; end: number; lag: number }[] }[];
  deadLetters: DeadLetter[];
  kafkaError?: string;
}

export interface SystemFunction {
  name: string;
  replicas: number;
  availableReplicas: number;
  min: number;
  max: number;
  scaleType: string;
  target: number;
  scaleToZero: boolean;
  instances: { id: number; ready: boolean; addr?: string; calls: number }[];
  invocations: number;
  rps: number;
  /** Seconds, over the last ten. */
  p50: number;
  p99: number;
  inFlight: number;
  coldStarts: number;
  /** Seconds. */
  coldStartMean: number;
}

export interface DeadLetter {
  topic: string;
  partition: number;
  offset: number;
  key: string;
  function: string;
  reason: string;
  status: number;
  attempts: number;
  originalTopic: string;
  originalPartition: number;
  originalOffset: number;
  time: string;
}
