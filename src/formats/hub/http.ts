// HTTP for the Hub client over node:http / node:https: one request with
// redirects followed by hand (so the Authorization header is dropped when a
// redirect leaves the endpoint's origin, as when the Hub sends an LFS file to
// its CDN), a JSON helper, and the Hub's error responses turned into our
// errors: X-Error-Code RepoNotFound / GatedRepo / RevisionNotFound /
// EntryNotFound, 401 (the Hub answers 401 for a repository that does not
// exist as well as for a private or gated one without a token), 403, 429, 5xx.
// Knows nothing about files or the cache.
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";

import { ConfigError, NotFoundError, SlmError } from "../../errors.ts";

export interface HubRequest {
  method: "GET" | "HEAD";
  url: string;
  headers?: Record<string, string>;
  /** Sent to the first URL's origin only. */
  token?: string;
  /** Socket idle timeout (ms) before the request fails as a cut connection. Default 30 s. */
  timeoutMs?: number;
  /** Follow 3xx responses: always (default), never, or "same-origin" only (huggingface_hub's HEAD follows relative redirects, e.g. a renamed repository, but not the CDN's). */
  follow?: boolean | "same-origin";
  signal?: AbortSignal;
}

export interface HubResponse {
  status: number;
  headers: IncomingMessage["headers"];
  /** The URL that answered (after redirects). */
  url: string;
  /** The response stream (consume or destroy it). */
  body: IncomingMessage;
}

const MAX_REDIRECTS = 10;

/** A network-level failure (reset, timed out, 5xx): worth a retry unless `retry` is false (refused, unknown host: no network). */
export class NetworkError extends SlmError {
  readonly retry: boolean;
  constructor(message: string, options?: { hint?: string; cause?: unknown; retry?: boolean }) {
    super("IO", message, options);
    this.retry = options?.retry ?? true;
  }
}

/** Socket errors that mean "no network / wrong address" rather than a passing failure. */
const FINAL_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "CERT_HAS_EXPIRED",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
]);

/** What we tell the Hub about ourselves. */
const USER_AGENT = `slmkit/0.1; node/${process.versions.node}`;

function once(req: HubRequest, url: URL, withToken: boolean): Promise<HubResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { "user-agent": USER_AGENT, "accept-encoding": "identity", ...req.headers };
    if (withToken && req.token) headers.authorization = `Bearer ${req.token}`;
    const fn = url.protocol === "https:" ? httpsRequest : url.protocol === "http:" ? httpRequest : undefined;
    if (!fn) return reject(new ConfigError(`${url.href}: only http and https URLs are supported`));
    const r = fn(url, { method: req.method, headers, ...(req.signal ? { signal: req.signal } : {}) }, (res) => {
      resolve({ status: res.statusCode ?? 0, headers: res.headers, url: url.href, body: res });
    });
    r.setTimeout(req.timeoutMs ?? 30_000, () => r.destroy(new NetworkError(`${url.host}: no data for ${Math.round((req.timeoutMs ?? 30_000) / 1000)} s`)));
    r.on("error", (e: NodeJS.ErrnoException) => {
      if (e instanceof SlmError) return reject(e);
      if (e.name === "AbortError") return reject(e);
      reject(
        new NetworkError(`cannot reach ${url.origin}: ${e.code ?? e.message}`, {
          cause: e,
          hint: "check the network (or HF_ENDPOINT); HF_HUB_OFFLINE=1 uses the cache only",
          retry: !FINAL_CODES.has(e.code ?? ""),
        }),
      );
    });
    r.end();
  });
}

/** Sends a request, following redirects; the Authorization header only goes to the first URL's origin. */
export async function hubRequest(req: HubRequest): Promise<HubResponse> {
  let url = new URL(req.url);
  const origin = url.origin;
  for (let hop = 0; ; hop++) {
    const res = await once(req, url, url.origin === origin);
    const loc = res.headers.location;
    if (req.follow === false || res.status < 300 || res.status >= 400 || !loc || res.status === 304) return res;
    const next = new URL(loc, url);
    if (req.follow === "same-origin" && next.origin !== origin) return res;
    res.body.resume();
    if (hop >= MAX_REDIRECTS) throw new NetworkError(`${req.url}: more than ${MAX_REDIRECTS} redirects`);
    url = next;
  }
}

/** Reads a whole (small) response body. */
export async function readBody(res: HubResponse, limit = 64 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res.body) {
    n += (c as Buffer).length;
    if (n > limit) {
      res.body.destroy();
      throw new NetworkError(`${res.url}: response larger than ${limit} bytes`);
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/** What a failed response is about, for its message. */
export interface ErrorSubject {
  repoId: string;
  revision?: string;
  file?: string;
  endpoint: string;
  hasToken: boolean;
}

const header = (res: HubResponse, name: string): string | undefined => {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
};

/** Throws our error for a non-2xx response (consuming its body); returns for 2xx. */
export async function checkStatus(res: HubResponse, what: ErrorSubject): Promise<void> {
  if (res.status >= 200 && res.status < 300) return;
  res.body.resume();
  const code = header(res, "x-error-code");
  const serverMsg = header(res, "x-error-message");
  const tail = serverMsg ? ` (${res.status}: ${serverMsg})` : ` (HTTP ${res.status})`;
  const page = `${what.endpoint}/${what.repoId}`;
  const tokenHint = what.hasToken
    ? "your HF_TOKEN may not have access to it"
    : "if it is private or gated, set HF_TOKEN (a token from huggingface.co/settings/tokens) or log in with `huggingface-cli login`";
  if (code === "GatedRepo") {
    throw new ConfigError(
      `${what.repoId} is a gated repository: ${what.hasToken ? "your token has not been granted access" : "downloading it needs a token"}${tail}`,
      {
        hint: what.hasToken
          ? `accept the model's terms at ${page} with the account of your HF_TOKEN`
          : `accept the model's terms at ${page}, then set HF_TOKEN to a token of that account`,
      },
    );
  }
  if (code === "RevisionNotFound")
    throw new NotFoundError(`revision "${what.revision}" not found in ${what.repoId}${tail}`, {
      hint: `branches, tags and commits are listed at ${page}/tree/main`,
    });
  if (code === "EntryNotFound" || (res.status === 404 && what.file !== undefined && code === undefined)) {
    throw new NotFoundError(`${what.file ?? "file"} not found in ${what.repoId}${what.revision ? `@${what.revision}` : ""}${tail}`);
  }
  if (code === "RepoNotFound" || res.status === 401 || res.status === 404) {
    if (res.status === 401 && what.hasToken && serverMsg && /invalid|credentials|token/i.test(serverMsg)) {
      throw new ConfigError(`the Hub rejected HF_TOKEN${tail}`, {
        hint: "check the token (huggingface.co/settings/tokens), or unset HF_TOKEN for public models",
      });
    }
    throw new NotFoundError(`repository ${what.repoId} not found on ${what.endpoint}${res.status === 401 ? ", or it needs a token" : ""}${tail}`, {
      hint: `check the name; ${tokenHint}`,
    });
  }
  if (res.status === 403) throw new ConfigError(`access to ${what.repoId} is forbidden${tail}`, { hint: tokenHint });
  if (res.status === 429 || res.status >= 500)
    throw new NetworkError(`${what.endpoint} is unavailable or rate-limiting${tail}`, { hint: "try again in a minute" });
  throw new SlmError("IO", `unexpected response from ${res.url}${tail}`);
}
