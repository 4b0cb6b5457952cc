// Ctrl-C (SIGINT) and SIGTERM as a clean stop for the commands that train:
// while the work runs, either signal aborts its AbortSignal (the library then
// finishes the step, saves and returns), and the handlers are removed when it
// ends. Knows nothing about what the work is.

/** Runs `work` with a signal that SIGINT/SIGTERM abort; `onStop` runs on the first of them (e.g. to say what happens next). */
export async function withStopSignals<T>(work: (signal: AbortSignal) => Promise<T>, onStop?: () => void): Promise<T> {
  const ac = new AbortController();
  const onSignal = () => {
    if (!ac.signal.aborted) onStop?.();
    ac.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    return await work(ac.signal);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
