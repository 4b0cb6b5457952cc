// Per-request cancellation for the app: an AbortSignal that fires when the
// client disconnects before the response ends, or after the request timeout,
// and remembers which of the two it was (the app answers 504 for a timeout and
// nothing at all to a client that has gone). Knows nothing about routes.
import type { ServerResponse } from "node:http";

/** Why a request's signal fired (undefined: it did not, or the backend cancelled on its own, e.g. at shutdown). */
export type AbortCause = "disconnect" | "timeout";

export interface RequestControl {
  signal: AbortSignal;
  cause(): AbortCause | undefined;
  /** True once the client has gone (nothing more can be written). */
  gone(): boolean;
  done(): void;
}

/** An AbortSignal that fires when the client disconnects before the response ends, or after timeoutMs (0 = never). */
export function requestControl(raw: ServerResponse, timeoutMs: number): RequestControl {
  const ac = new AbortController();
  let cause: AbortCause | undefined;
  let gone = false;
  const onClose = () => {
    if (raw.writableFinished) return;
    gone = true;
    if (!ac.signal.aborted) {
      cause = "disconnect";
      ac.abort(new Error("client disconnected"));
    }
  };
  raw.on("close", onClose);
  const timer =
    timeoutMs > 0
      ? setTimeout(() => {
          if (!ac.signal.aborted) {
            cause = "timeout";
            ac.abort(new Error("request timed out"));
          }
        }, timeoutMs)
      : undefined;
  timer?.unref();
  return {
    signal: ac.signal,
    cause: () => cause,
    gone: () => gone,
    done: () => {
      if (timer) clearTimeout(timer);
      raw.removeListener("close", onClose);
    },
  };
}
