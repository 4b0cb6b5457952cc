// withStopSignals: SIGINT or SIGTERM aborts the work's signal (onStop runs once,
// on the first), the work's result comes back, and the handlers are gone after
// it ends, also when it throws. Signals are emitted on `process`, not sent.
import assert from "node:assert/strict";
import { test } from "node:test";

import { withStopSignals } from "./stop-signals.ts";

const listeners = () => process.listenerCount("SIGINT") + process.listenerCount("SIGTERM");

test("a signal aborts the work; onStop says so once; the handlers are removed", async () => {
  const before = listeners();
  let stops = 0;
  const result = await withStopSignals(
    (signal) =>
      new Promise<string>((resolve) => {
        assert.equal(listeners(), before + 2);
        signal.addEventListener("abort", () => resolve("stopped cleanly"));
        process.emit("SIGTERM");
        process.emit("SIGINT");
      }),
    () => stops++,
  );
  assert.equal(result, "stopped cleanly");
  assert.equal(stops, 1);
  assert.equal(listeners(), before);
});

test("work that ends on its own is not aborted, and a throw still removes the handlers", async () => {
  const before = listeners();
  let seen: AbortSignal | undefined;
  assert.equal(
    await withStopSignals(async (signal) => {
      seen = signal;
      return 7;
    }),
    7,
  );
  assert.equal(seen?.aborted, false);
  await assert.rejects(
    withStopSignals(async () => {
      throw new Error("boom");
    }),
    /boom/,
  );
  assert.equal(listeners(), before);
});
