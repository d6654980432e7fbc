// The gateway's event stream, cut down to one visitor's payments.
//
// The route asks the gateway for the visitor's events only (?userId=), and
// checks every event again here: a visitor must never see another user's
// payment ids or timing, whatever the gateway in front of it does. An event
// whose user is not the visitor's, or unknown, is dropped; comments
// (heartbeats) and the retry hint pass through.

/** onlyUser passes the Server-Sent Events of `stream` that belong to userId. */
export function onlyUser(stream: ReadableStream<Uint8Array>, userId: string): ReadableStream<Uint8Array> {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let pending = "";
  const emit = (block: string, out: TransformStreamDefaultController<Uint8Array>) => {
    if (belongsTo(block, userId)) out.enqueue(encoder.encode(block + "\n\n"));
  };
  return stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, out) {
        // Events end with a blank line; the gateway writes "\n" line ends.
        pending += decoder.decode(chunk, { stream: true }).replace(/\r\n?/g, "\n");
        let end: number;
        while ((end = pending.indexOf("\n\n")) >= 0) {
          emit(pending.slice(0, end), out);
          pending = pending.slice(end + 2);
        }
      },
      flush(out) {
        // An event cut off by the end of the stream is incomplete: dropped,
        // as a browser would drop it.
        pending = "";
        void out;
      },
    }),
  );
}

/** belongsTo reports whether an event block may be shown to userId: blocks without data always, events only when theirs. */
function belongsTo(block: string, userId: string): boolean {
  const data = block
    .split("\n")
    .filter((line) => line.startsWith("data:"))
    .map((line) => line.slice(5).replace(/^ /, ""));
  if (data.length === 0) return true;
  try {
    const event = JSON.parse(data.join("\n")) as { userId?: unknown };
    return typeof event.userId === "string" && event.userId.toLowerCase() === userId.toLowerCase();
  } catch {
    return false;
  }
}
