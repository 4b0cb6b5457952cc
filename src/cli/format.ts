// Small formatting helpers shared by CLI commands: durations, counts,
// progress bars, and parsing of human durations ("10m", "1h30m", "90s").
import { UsageError } from "../errors.ts";

/** "1h02m", "4m05s", "12.3s". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "?";
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60),
    sec = Math.floor(s % 60);
  if (m < 60) return `${m}m${String(sec).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

/** 1234567 → "1.23M". */
export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(Math.round(n));
}

/** Bytes in decimal units: 4_640_000_000 → "4.64 GB", 1_500_000 → "1.5 MB". */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return "?";
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${Math.round(n)} B`;
}

/** A text bar: [#####.....] for a fraction in [0, 1]. */
export function bar(fraction: number, width = 20): string {
  const f = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0));
  const full = Math.round(f * width);
  return `[${"#".repeat(full)}${".".repeat(width - full)}]`;
}

/** Parses "10m", "90s", "1h", "1h30m", "45" (seconds) into milliseconds. */
export function parseDuration(flag: string, v: string): number {
  const s = v.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  const re = /(\d+(?:\.\d+)?)(h|m|s|ms)/gy;
  let total = 0,
    matched = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    const n = Number(m[1]);
    total += m[2] === "h" ? n * 3600e3 : m[2] === "m" ? n * 60e3 : m[2] === "s" ? n * 1e3 : n;
    matched = re.lastIndex;
  }
  if (matched !== s.length || total <= 0) throw new UsageError(`--${flag}: expected a duration like 90s, 10m or 1h30m, got "${v}"`);
  return total;
}
