// Bounds on /api/watch, so that no one visitor can take the long-poll
// capacity everyone shares. Each watched id is one get-payment long-poll at
// the gateway, and get-payment holds at most LONG_POLL_MAX_WAITERS of them per
// instance (2,000) before it answers 503 to everybody. So a visitor may name
// at most MAX_WATCHED_IDS ids per watch and keep at most watchesPerVisitor
// watches open, and this server holds at most watchLongPolls long-polls in all.
//
// A visitor is a user cookie, which anyone can make anew: the per-visitor
// bound stops a page (or a script) from hoarding, the per-server bound keeps
// the sum of many visitors below the gateway's. Counts are per UI server
// process, like get-payment's own.

import { gatewayConfig } from "./config";

export type Refusal = "visitor" | "server";

export class WatchLimiter {
  private readonly open = new Map<string, number>();
  private polls = 0;

  constructor(
    readonly perVisitor: number,
    readonly maxPolls: number,
  ) {}

  /** acquire takes a place for a watch of `ids` ids, or says whose bound refuses it. */
  acquire(visitor: string, ids: number): { ok: true; release: () => void } | { ok: false; refusal: Refusal } {
    const mine = this.open.get(visitor) ?? 0;
    if (mine >= this.perVisitor) return { ok: false, refusal: "visitor" };
    if (this.polls + ids > this.maxPolls) return { ok: false, refusal: "server" };
    this.open.set(visitor, mine + 1);
    this.polls += ids;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.polls -= ids;
      const left = (this.open.get(visitor) ?? 1) - 1;
      if (left > 0) this.open.set(visitor, left);
      else this.open.delete(visitor);
    };
    return { ok: true, release };
  }

  /** Long-polls held now, for tests and logs. */
  get held(): number {
    return this.polls;
  }
}

let shared: WatchLimiter | undefined;

/** The watch limiter of this process, configured from the environment. */
export function watchLimiter(): WatchLimiter {
  const cfg = gatewayConfig();
  shared ??= new WatchLimiter(cfg.watchesPerVisitor, cfg.watchLongPolls);
  return shared;
}
