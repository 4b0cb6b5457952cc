// Memory for model weights read from files. Decode reads every weight once per token; on 4 KB
// pages that is a TLB miss every 4 KB, which in a virtual machine walks two page tables. The
// native addon hands out buffers aligned to 2 MB and advised for transparent huge pages
// (allocWeights in native/src/addon/addon.cpp, measured there); without the addon, or on a
// system without THP, they are ordinary memory; SLM_HUGE_WEIGHTS=0 asks for ordinary memory
// (to compare, or where huge pages misbehave). Contents are undefined until written.
import { nativeBackend } from "./load.ts";

/** Below this many bytes a plain allocation is used (the 2 MB rounding would cost more than it saves). */
export const HUGE_WEIGHTS_MIN = 8 << 20;

/**
 * A buffer of `bytes` for weights about to be read from a file: huge-page backed where the
 * addon and OS allow, else a plain Uint8Array. Every byte that will be read must be written
 * first (the contents are undefined, not zero).
 */
export function weightBuffer(bytes: number): Uint8Array {
  const b = nativeBackend();
  if (b?.allocWeights && bytes >= HUGE_WEIGHTS_MIN && process.env.SLM_HUGE_WEIGHTS !== "0") return new Uint8Array(b.allocWeights(bytes));
  return new Uint8Array(bytes);
}
