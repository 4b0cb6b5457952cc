// A fake Hugging Face Hub for tests and benchmarks: a node:http server on
// 127.0.0.1 (port 0) serving repositories made in memory, with the endpoints
// pull.ts uses and the Hub's answers to them:
//   GET  /api/models/{org}/{name}/revision/{rev}[?blobs=true]   sha + siblings
//   HEAD/GET /{org}/{name}/resolve/{rev}/{path}   small files: 200 + ETag (git blob sha1);
//        LFS files: 302 to /cdn/{sha256} + X-Linked-Etag / X-Linked-Size; X-Repo-Commit always
//   GET  /cdn/{sha256}                            the bytes, with Range (206)
// Errors the Hub's way: 401 RepoNotFound without a token, 404 with one;
// GatedRepo 401/403; RevisionNotFound and EntryNotFound 404 (X-Error-Code).
// Fault knobs: cut the connection after N body bytes once, flip a byte once,
// a listing without blob ids (HEAD per file). Every request is logged with
// its method, path, Range, whether it carried a token, and body bytes sent.
// Also: split a saved model directory into safetensors shards.
// Not part of the library API.
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join, relative } from "node:path";

import { createModel, presetConfig, type CausalLM, type ModelConfig } from "../../models/index.ts";
import { modelWeights } from "../convert.ts";
import { writeLlamaGguf } from "../gguf-llama.ts";
import { saveModelDir } from "../hf-dir.ts";
import { SafetensorsFile, writeSafetensors } from "../safetensors.ts";
import { tinyByteLevel } from "../testing.ts";

export interface FakeRepoFiles {
  [path: string]: Uint8Array | string;
}

export interface FakeRepo {
  id: string;
  /** Branch or tag → files. The commit hash is derived from the content. */
  revisions: Record<string, FakeRepoFiles>;
  /** Needs the hub's token, answering GatedRepo without it. */
  gated?: boolean;
}

export interface RequestLog {
  method: string;
  path: string;
  range?: string;
  auth: boolean;
  status: number;
  /** Body bytes written. */
  sent: number;
}

interface StoredFile {
  data: Uint8Array;
  lfs: boolean;
  etag: string;
}

interface StoredRevision {
  commit: string;
  files: Map<string, StoredFile>;
}

const gitSha1 = (d: Uint8Array) => createHash("sha1").update(`blob ${d.length}\0`).update(d).digest("hex");
const sha256 = (d: Uint8Array) => createHash("sha256").update(d).digest("hex");
const isLfs = (path: string, d: Uint8Array) => /\.(safetensors|gguf|bin)$/.test(path) || d.length > 10 * 1024;

export class FakeHub {
  readonly requests: RequestLog[] = [];
  /** Token gated repos require (also accepted for every other repo). */
  token = "hf_fake_token";
  /** Leave blobId / lfs out of the listing, so the client must HEAD each file. */
  noBlobsInListing = false;
  /** Rewrites the listing's siblings before they are sent (a hostile or broken server). */
  tamperListing?: (siblings: Array<Record<string, unknown>>) => Array<Record<string, unknown>>;
  private server!: Server;
  /** LFS redirects go here: a second port, so a different origin, as the Hub's CDN is. */
  private cdn!: Server;
  cdnUrl = "";
  private repos = new Map<string, Map<string, StoredRevision>>();
  private gated = new Set<string>();
  private blobs = new Map<string, Uint8Array>();
  private cuts: Array<{ match: string; after: number }> = [];
  private flips: Array<{ match: string; offset?: number }> = [];
  private stalls: Array<{ match: string; after: number; onStall: () => void }> = [];
  url = "";

  static async start(repos: FakeRepo[] = []): Promise<FakeHub> {
    const hub = new FakeHub();
    for (const r of repos) hub.addRepo(r);
    hub.server = createServer((req, res) => hub.handle(req, res));
    await new Promise<void>((resolve) => hub.server.listen(0, "127.0.0.1", resolve));
    hub.url = `http://127.0.0.1:${(hub.server.address() as AddressInfo).port}`;
    hub.cdn = createServer((req, res) => hub.handle(req, res));
    await new Promise<void>((resolve) => hub.cdn.listen(0, "127.0.0.1", resolve));
    hub.cdnUrl = `http://127.0.0.1:${(hub.cdn.address() as AddressInfo).port}`;
    return hub;
  }

  addRepo(r: FakeRepo): void {
    const revs = new Map<string, StoredRevision>();
    for (const [name, files] of Object.entries(r.revisions)) {
      const stored = new Map<string, StoredFile>();
      const h = createHash("sha1").update(`${r.id}\0${name}`);
      for (const [path, content] of Object.entries(files).sort(([a], [b]) => (a < b ? -1 : 1))) {
        const data = typeof content === "string" ? Buffer.from(content, "utf8") : content;
        const lfs = isLfs(path, data);
        const etag = lfs ? sha256(data) : gitSha1(data);
        if (lfs) this.blobs.set(etag, data);
        stored.set(path, { data, lfs, etag });
        h.update(`${path}\0${etag}\0`);
      }
      revs.set(name, { commit: h.digest("hex"), files: stored });
    }
    this.repos.set(r.id, revs);
    if (r.gated) this.gated.add(r.id);
  }

  /** The commit a branch or tag points at. */
  commit(repoId: string, revision = "main"): string {
    return this.repos.get(repoId)!.get(revision)!.commit;
  }

  /** The next body of a file whose URL path contains `match` stops after `after` bytes (the socket is destroyed). */
  cutOnce(match: string, after: number): void {
    this.cuts.push({ match, after });
  }

  /** The next body of a file whose URL path contains `match` has one byte flipped (at `offset`, default the middle). */
  flipOnce(match: string, offset?: number): void {
    this.flips.push(offset === undefined ? { match } : { match, offset });
  }

  /** The next body of a file whose URL path contains `match` stops after `after` bytes and hangs (the connection stays open); `onStall` is called then (e.g. to kill the client). */
  stallOnce(match: string, after: number, onStall: () => void): void {
    this.stalls.push({ match, after, onStall });
  }

  /** Requests whose path contains `match` (and of a method). */
  count(match: string, method = "GET"): RequestLog[] {
    return this.requests.filter((r) => r.method === method && r.path.includes(match));
  }

  async close(): Promise<void> {
    for (const s of [this.server, this.cdn]) {
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
  }

  private findRevision(repoId: string, rev: string): StoredRevision | undefined {
    const revs = this.repos.get(repoId)!;
    return revs.get(rev) ?? [...revs.values()].find((r) => r.commit === rev);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://x");
    const auth = req.headers.authorization;
    const log: RequestLog = {
      method: req.method ?? "GET",
      path: url.pathname,
      auth: auth !== undefined,
      status: 0,
      sent: 0,
      ...(req.headers.range ? { range: String(req.headers.range) } : {}),
    };
    this.requests.push(log);
    const send = (status: number, headers: Record<string, string | number>, body?: Uint8Array | string) => {
      log.status = status;
      const b = body === undefined ? undefined : typeof body === "string" ? Buffer.from(body) : body;
      res.writeHead(status, { ...(b ? { "content-length": b.length } : {}), ...headers });
      if (b && req.method !== "HEAD") {
        log.sent += b.length;
        res.end(b);
      } else res.end();
    };
    const error = (status: number, code: string, message: string, extra: Record<string, string> = {}) =>
      send(status, { "x-error-code": code, "x-error-message": message, "content-type": "application/json", ...extra }, JSON.stringify({ error: message }));

    if (url.pathname.startsWith("/cdn/")) return this.sendBytes(req, res, log, this.blobs.get(url.pathname.slice(5)), {});

    const api = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(url.pathname);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    const m = api ?? resolve;
    if (!m) return error(404, "NotFound", "no such endpoint");
    const repoId = decodeURIComponent(m[1]!);
    const rev = decodeURIComponent(m[2]!);
    if (auth !== undefined && auth !== `Bearer ${this.token}`) return error(401, "Unauthorized", "Invalid credentials in Authorization header");
    if (!this.repos.has(repoId)) return auth ? error(404, "RepoNotFound", "Repository not found") : error(401, "RepoNotFound", "Repository not found");
    if (this.gated.has(repoId) && !auth)
      return error(401, "GatedRepo", `Access to model ${repoId} is restricted. You must have access to it and be authenticated to access it. Please log in.`);
    const revision = this.findRevision(repoId, rev);
    if (!revision) return error(404, "RevisionNotFound", `Invalid rev id: ${rev}`);
    if (api) {
      const blobs = url.searchParams.get("blobs") === "true" && !this.noBlobsInListing;
      const listed = [...revision.files].map(([path, f]) => ({
        rfilename: path,
        ...(blobs
          ? {
              size: f.data.length,
              blobId: f.lfs ? gitSha1(Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${f.etag}\nsize ${f.data.length}\n`)) : f.etag,
            }
          : {}),
        ...(blobs && f.lfs ? { lfs: { size: f.data.length, sha256: f.etag, pointerSize: 134 } } : {}),
      }));
      const siblings = this.tamperListing ? this.tamperListing(listed) : listed;
      return send(
        200,
        { "content-type": "application/json" },
        JSON.stringify({ id: repoId, modelId: repoId, sha: revision.commit, private: false, gated: this.gated.has(repoId) ? "auto" : false, siblings }),
      );
    }
    const path = decodeURIComponent(m[3]!);
    const f = revision.files.get(path);
    const commitHeader = { "x-repo-commit": revision.commit };
    if (!f) return error(404, "EntryNotFound", `${path} does not exist on "${rev}"`, commitHeader);
    if (f.lfs) {
      return send(302, {
        ...commitHeader,
        location: `${this.cdnUrl}/cdn/${f.etag}`,
        "x-linked-etag": `"${f.etag}"`,
        "x-linked-size": String(f.data.length),
        etag: `"${gitSha1(Buffer.from(f.etag))}"`,
      });
    }
    return this.sendBytes(req, res, log, f.data, { ...commitHeader, etag: `"${f.etag}"` });
  }

  /** A file body with Range support and the fault knobs applied. */
  private sendBytes(req: IncomingMessage, res: ServerResponse, log: RequestLog, data: Uint8Array | undefined, headers: Record<string, string>): void {
    if (!data) {
      log.status = 404;
      res.writeHead(404).end();
      return;
    }
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ""));
    if (range) start = Number(range[1]);
    if (start > data.length) {
      log.status = 416;
      res.writeHead(416, { "content-range": `bytes */${data.length}` }).end();
      return;
    }
    let body = data.subarray(start);
    const status = range ? 206 : 200;
    log.status = status;
    res.writeHead(status, {
      ...headers,
      "content-length": body.length,
      "accept-ranges": "bytes",
      ...(range ? { "content-range": `bytes ${start}-${data.length - 1}/${data.length}` } : {}),
    });
    if (req.method === "HEAD") return void res.end();
    const flip = this.flips.findIndex((x) => log.path.includes(x.match));
    if (flip >= 0) {
      const off = this.flips[flip]!.offset ?? Math.floor(data.length / 2);
      this.flips.splice(flip, 1);
      if (off >= start) {
        body = Buffer.from(body);
        body[off - start] = body[off - start]! ^ 0xff;
      }
    }
    const stall = this.stalls.findIndex((x) => log.path.includes(x.match));
    if (stall >= 0) {
      const { after, onStall } = this.stalls[stall]!;
      this.stalls.splice(stall, 1);
      const part = body.subarray(0, Math.max(0, after - start));
      log.sent += part.length;
      res.write(part, () => onStall());
      return;
    }
    const cut = this.cuts.findIndex((x) => log.path.includes(x.match));
    if (cut >= 0) {
      const after = this.cuts[cut]!.after;
      this.cuts.splice(cut, 1);
      const part = body.subarray(0, Math.max(0, after - start));
      log.sent += part.length;
      res.write(part, () => setTimeout(() => res.destroy(), 20));
      return;
    }
    log.sent += body.length;
    res.end(body);
  }
}

/** Every file under `dir`, by its "/"-separated relative path. */
export function filesOfDir(dir: string): FakeRepoFiles {
  const out: FakeRepoFiles = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[relative(dir, p).split("\\").join("/")] = readFileSync(p);
    }
  };
  walk(dir);
  return out;
}

/** Splits dir/model.safetensors into `n` shards model-0000i-of-0000n.safetensors plus model.safetensors.index.json (tensors in order, about equal bytes). */
export function shardModelDir(dir: string, n: number): void {
  const src = join(dir, "model.safetensors");
  const f = SafetensorsFile.open(src);
  const names = f.names;
  const total = names.reduce((a, x) => a + f.info(x).end - f.info(x).begin, 0);
  const shards: Array<Array<{ name: string; shape: number[]; data: Float32Array }>> = Array.from({ length: n }, () => []);
  let acc = 0;
  for (const name of names) {
    const info = f.info(name);
    const i = Math.min(n - 1, Math.floor((acc / total) * n));
    acc += info.end - info.begin;
    shards[i]!.push({ name, ...f.readFloat32(name) });
  }
  f.close();
  const weightMap: Record<string, string> = {};
  const pad = (x: number) => String(x).padStart(5, "0");
  shards.forEach((tensors, i) => {
    const file = `model-${pad(i + 1)}-of-${pad(n)}.safetensors`;
    writeSafetensors(join(dir, file), tensors);
    for (const t of tensors) weightMap[t.name] = file;
  });
  writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: { total_size: statSync(src).size }, weight_map: weightMap }, null, 2));
  rmSync(src);
}

/** A tiny model of an architecture (d 32, 2 layers) with random weights. */
export function tinyModel(modelType: ModelConfig["modelType"], seed = 1, size: Partial<ModelConfig> = {}): CausalLM {
  const config = presetConfig("nano", 300, {
    modelType,
    dModel: 32,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: modelType === "gpt2" ? 4 : 2,
    headDim: 8,
    ffnDim: 48,
    maxSeqLen: 32,
    qkvBias: modelType === "qwen2" || modelType === "gpt2",
    oBias: modelType === "gpt2",
    mlpBias: modelType === "gpt2",
    tieEmbeddings: modelType !== "llama",
    ...(modelType === "gemma3_text"
      ? { slidingWindow: 3, layerTypes: ["sliding_attention", "full_attention"], ropeLocalTheta: 10000, queryPreAttnScalar: 8 }
      : {}),
    ...size,
  });
  return createModel(config, seed);
}

/**
 * The test repositories, written under `work`: tiny/llama-sharded (two
 * safetensors shards + index, a README and a pytorch_model.bin that a default
 * pull skips), tiny/qwen2 (with a tokenizer), tiny/gpt2, tiny/mistral, tiny/qwen3 and
 * tiny/gemma3 (one model.safetensors each), tiny/gguf (a Q8_0 and a Q4_K_M GGUF, no
 * safetensors), tiny/gated (gated).
 */
export async function tinyRepos(work: string): Promise<{ repos: FakeRepo[]; models: Map<string, CausalLM> }> {
  const tokenizer = await tinyByteLevel(300);
  const models = new Map<string, CausalLM>();
  const repos: FakeRepo[] = [];
  const hfRepo = (id: string, model: CausalLM, shards: number, extra: FakeRepoFiles = {}, gated = false, withTokenizer = false) => {
    const dir = join(work, id.replace("/", "--"));
    saveModelDir(dir, model, withTokenizer ? { tokenizer } : {});
    if (shards > 1) shardModelDir(dir, shards);
    models.set(id, model);
    repos.push({ id, revisions: { main: { ...filesOfDir(dir), "README.md": `# ${id}\n`, ...extra } }, ...(gated ? { gated } : {}) });
  };
  hfRepo("tiny/llama-sharded", tinyModel("llama", 1), 2, { "pytorch_model.bin": new Uint8Array(4096).fill(7) });
  hfRepo("tiny/qwen2", tinyModel("qwen2", 2), 1, {}, false, true);
  hfRepo("tiny/gpt2", tinyModel("gpt2", 3), 1);
  hfRepo("tiny/mistral", tinyModel("mistral", 6), 1);
  hfRepo("tiny/qwen3", tinyModel("qwen3", 7), 1);
  hfRepo("tiny/gemma3", tinyModel("gemma3_text", 8), 1);
  hfRepo("tiny/gated", tinyModel("llama", 4), 1, {}, true);
  const g = tinyModel("llama", 5, { ffnDim: 64 });
  models.set("tiny/gguf", g);
  const q8 = join(work, "tiny-Q8_0.gguf");
  const q4 = join(work, "tiny-Q4_K_M.gguf");
  writeLlamaGguf(q8, modelWeights(g), { dtype: "q8_0" });
  writeLlamaGguf(q4, modelWeights(g), { dtype: "q4_k_m" });
  repos.push({ id: "tiny/gguf", revisions: { main: { "tiny-Q8_0.gguf": readFileSync(q8), "tiny-Q4_K_M.gguf": readFileSync(q4), "README.md": "# gguf\n" } } });
  return { repos, models };
}
