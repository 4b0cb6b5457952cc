// Prometheus metrics for the server, in the text exposition format (version
// 0.0.4) written here: counters, gauges read at scrape time, and histograms
// with cumulative buckets, _sum and _count. Label values are escaped; series
// are kept in insertion order. Knows nothing about HTTP or models: the app
// decides what to count.

export type Labels = Record<string, string>;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function labelText(labels: Labels, extra?: [string, string]): string {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}="${escapeLabel(labels[k]!)}"`);
  if (extra) parts.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

function formatNumber(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  return String(n);
}

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

abstract class Metric {
  constructor(
    readonly name: string,
    readonly help: string,
  ) {
    if (!NAME_RE.test(name)) throw new Error(`invalid metric name ${name}`);
  }
  abstract readonly type: string;
  abstract lines(): string[];
}

class Counter extends Metric {
  readonly type = "counter";
  private readonly series = new Map<string, { labels: Labels; value: number }>();

  inc(labels: Labels = {}, by = 1): void {
    if (!(by >= 0)) throw new Error(`counter ${this.name}: increment must be >= 0, got ${by}`);
    const key = labelText(labels);
    const s = this.series.get(key);
    if (s) s.value += by;
    else this.series.set(key, { labels: { ...labels }, value: by });
  }

  get(labels: Labels = {}): number {
    return this.series.get(labelText(labels))?.value ?? 0;
  }

  lines(): string[] {
    return [...this.series.entries()].map(([key, s]) => `${this.name}${key} ${formatNumber(s.value)}`);
  }
}

/** A gauge whose value is read when scraped. */
class Gauge extends Metric {
  readonly type = "gauge";
  constructor(
    name: string,
    help: string,
    private readonly read: () => number,
  ) {
    super(name, help);
  }
  lines(): string[] {
    return [`${this.name} ${formatNumber(this.read())}`];
  }
}

class Histogram extends Metric {
  readonly type = "histogram";
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();

  constructor(
    name: string,
    help: string,
    /** Upper bounds, ascending; +Inf is implied. */
    readonly buckets: readonly number[],
  ) {
    super(name, help);
    for (let i = 1; i < buckets.length; i++) if (!(buckets[i]! > buckets[i - 1]!)) throw new Error(`histogram ${name}: buckets must ascend`);
  }

  observe(value: number, labels: Labels = {}): void {
    const key = labelText(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { labels: { ...labels }, counts: new Array(this.buckets.length).fill(0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    // Non-cumulative per bucket here; cumulated when written.
    const i = this.buckets.findIndex((b) => value <= b);
    if (i >= 0) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }

  /** Number of observations (for tests and logs). */
  count(labels: Labels = {}): number {
    return this.series.get(labelText(labels))?.count ?? 0;
  }

  lines(): string[] {
    const out: string[] = [];
    for (const s of this.series.values()) {
      let cum = 0;
      this.buckets.forEach((b, i) => {
        cum += s.counts[i]!;
        out.push(`${this.name}_bucket${labelText(s.labels, ["le", formatNumber(b)])} ${cum}`);
      });
      out.push(`${this.name}_bucket${labelText(s.labels, ["le", "+Inf"])} ${s.count}`);
      out.push(`${this.name}_sum${labelText(s.labels)} ${formatNumber(s.sum)}`);
      out.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return out;
  }
}

export class Registry {
  private readonly metrics: Metric[] = [];

  private add<M extends Metric>(m: M): M {
    if (this.metrics.some((x) => x.name === m.name)) throw new Error(`metric ${m.name} registered twice`);
    this.metrics.push(m);
    return m;
  }
  counter(name: string, help: string): Counter {
    return this.add(new Counter(name, help));
  }
  gauge(name: string, help: string, read: () => number): Gauge {
    return this.add(new Gauge(name, help, read));
  }
  histogram(name: string, help: string, buckets: readonly number[]): Histogram {
    return this.add(new Histogram(name, help, buckets));
  }

  /** The exposition text: # HELP and # TYPE, then the samples of each metric. */
  text(): string {
    const out: string[] = [];
    for (const m of this.metrics) {
      out.push(`# HELP ${m.name} ${m.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`);
      out.push(`# TYPE ${m.name} ${m.type}`);
      out.push(...m.lines());
    }
    return `${out.join("\n")}\n`;
  }
}

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Latency buckets in seconds: 5 ms to 2 min. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120] as const;
/** Token-count buckets per request. */
const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096] as const;

/** The server's metrics, in one place so the app and its tests name them the same. */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly requests: Counter;
  readonly promptTokens: Counter;
  readonly completionTokens: Counter;
  readonly requestSeconds: Histogram;
  readonly firstTokenSeconds: Histogram;
  readonly completionTokensPerRequest: Histogram;
  readonly rejected: Counter;
  readonly cachedPromptTokens: Counter;
  readonly promptCacheHits: Counter;

  constructor(read: { queued: () => number; active: () => number; maxQueue: () => number; maxConcurrency: () => number; promptCacheBytes?: () => number }) {
    const r = this.registry;
    this.requests = r.counter("slm_http_requests_total", "HTTP requests answered, by route, method and status code.");
    this.requestSeconds = r.histogram("slm_http_request_duration_seconds", "Time from request to the end of the response, by route.", LATENCY_BUCKETS);
    this.promptTokens = r.counter("slm_prompt_tokens_total", "Prompt tokens processed, by endpoint.");
    this.completionTokens = r.counter("slm_completion_tokens_total", "Tokens generated, by endpoint.");
    this.completionTokensPerRequest = r.histogram("slm_completion_tokens", "Tokens generated per request.", TOKEN_BUCKETS);
    this.firstTokenSeconds = r.histogram("slm_time_to_first_token_seconds", "Time from request to the first streamed text.", LATENCY_BUCKETS);
    this.rejected = r.counter("slm_rejected_requests_total", "Requests refused before generation, by reason (overloaded, timeout, cancelled).");
    this.cachedPromptTokens = r.counter("slm_prompt_cached_tokens_total", "Prompt tokens reused from the prompt cache instead of prefilled, by endpoint.");
    this.promptCacheHits = r.counter("slm_prompt_cache_hits_total", "Requests that reused a cached prompt prefix, by endpoint.");
    if (read.promptCacheBytes) r.gauge("slm_prompt_cache_bytes", "Bytes the prompt cache holds (keys and values of earlier requests).", read.promptCacheBytes);
    r.gauge("slm_queue_depth", "Requests waiting for a generation slot.", read.queued);
    r.gauge("slm_active_generations", "Requests generating now.", read.active);
    r.gauge("slm_queue_capacity", "Most requests that may wait before the server answers 429.", read.maxQueue);
    r.gauge("slm_max_concurrency", "Most requests generating at once.", read.maxConcurrency);
  }
}
