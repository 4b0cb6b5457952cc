// The table of gradient rules: one function per coarse op, its forward and its
// backward side by side. Each op checks shapes, allocates its output and saved
// values from the tape's arena, runs the forward kernel (through the validating
// wrappers of src/native/ops) and, when an input requires grad, records a
// closure that ADDS the input gradients (every backward kernel accumulates;
// cross-entropy's, which writes, is handled here).
// Shapes: an op reads a tensor as rows × last dimension; leading dimensions are
// carried to the output unchanged. Knows nothing about models: it never
// decides what is a layer, and it never allocates outside the arena.
import { ShapeError } from "../errors.ts";
import { add as addKernel, axpy, geluBackward, geluForward, swigluBackward, swigluForward } from "../native/ops/activation.ts";
import { attentionBackward, attentionForward } from "../native/ops/attention.ts";
import { embeddingBackward, embeddingForward } from "../native/ops/embed.ts";
import { matmul as gemm } from "../native/ops/gemm.ts";
import { qmatmul, qmatmulMulti, qmatmulT, qrows } from "../native/ops/qgemm.ts";
import { crossEntropyBackward, crossEntropyForward } from "../native/ops/loss.ts";
import { layernormBackward, layernormForward, rmsnormBackward, rmsnormForward } from "../native/ops/norm.ts";
import { ropeBackward, ropeForward } from "../native/ops/rope.ts";
import type { Rng } from "../util/rng.ts";
import type { RopeTable } from "./rope.ts";
import type { Tape } from "./tape.ts";
import { ColumnView, Parameter, Tensor, shapeStr } from "./tensor.ts";
import { windowAttentionBackward, windowAttentionForward } from "./window-attention.ts";

function fail(op: string, msg: string, hint?: string): never {
  throw new ShapeError(`${op}: ${msg}`, hint === undefined ? undefined : { hint });
}

function withLastDim(shape: readonly number[], last: number): number[] {
  return shape.length === 0 ? [last] : [...shape.slice(0, -1), last];
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** A gradient buffer for input t: its real one when it requires grad, else zeroed scratch. */
function gradOrScratch(g: Tape, t: Tensor): Float32Array {
  return t.requiresGrad ? g.grad(t) : g.arena.zeros(t.size);
}

// ---------------------------------------------------------------- matmul, linear

export interface MatmulOpOptions {
  /** b is stored (N,K) and used transposed (a weight as PyTorch stores it). */
  transB?: boolean;
}

/** c (…,N) = a (…,K) · op(b): b (K,N), or (N,K) with transB. Leading dims of a are rows. */
export function matmul(g: Tape, a: Tensor, b: Tensor, opts: MatmulOpOptions = {}): Tensor {
  const transB = opts.transB ?? false;
  if (b.ndim !== 2) fail("matmul", `b must be 2-D, got ${b}`);
  const k = a.cols,
    m = a.rows;
  const n = transB ? b.shape[0]! : b.shape[1]!;
  const bk = transB ? b.shape[1]! : b.shape[0]!;
  if (bk !== k) fail("matmul", `inner dimensions differ: a ${shapeStr(a.shape)} · b ${shapeStr(b.shape)}${transB ? "ᵀ" : ""}`);
  if (m < 1) fail("matmul", `a ${a} has no rows`);
  const c = g.empty(withLastDim(a.shape, n));
  // c (M,N) = a (M,K) · op(b)
  gemm(a.data, b.data, c.data, m, n, k, { transB });
  if (g.needsGrad(a, b)) g.record("matmul", c, (dc) => matmulBackward(g, a, b, dc, m, n, k, transB));
  return c;
}

function matmulBackward(g: Tape, a: Tensor, b: Tensor, dc: Float32Array, m: number, n: number, k: number, transB: boolean): void {
  // dc (M,N)
  if (a.requiresGrad) {
    // da (M,K) += dc (M,N) · op(b)ᵀ: b (K,N) is read transposed; b (N,K) as stored.
    gemm(dc, b.data, g.grad(a), m, k, n, { transB: !transB, accumulate: true });
  }
  if (b.requiresGrad) {
    if (transB)
      gemm(dc, a.data, g.grad(b), n, k, m, { transA: true, accumulate: true }); // db (N,K) += dcᵀ · a
    else gemm(a.data, dc, g.grad(b), k, n, m, { transA: true, accumulate: true }); // db (K,N) += aᵀ · dc
  }
}

/**
 * y (…,OUT) = x (…,IN) · wᵀ + bias, with w (OUT,IN) as PyTorch and Hugging Face store it and
 * bias (OUT) or null. Backward: dx += dy·w, dw += dyᵀ·x, dbias += column sums of dy.
 */
export function linear(g: Tape, x: Tensor, w: Tensor, bias: Tensor | null = null): Tensor {
  if (w.ndim !== 2) fail("linear", `weight must be 2-D (OUT,IN), got ${w}`);
  const out = w.shape[0]!,
    inp = w.shape[1]!;
  if (x.cols !== inp) fail("linear", `input ${x} has ${x.cols} features, weight ${w} expects ${inp}`);
  if (bias !== null && bias.size !== out) fail("linear", `bias ${bias} must have ${out} values`);
  const n = x.rows;
  if (n < 1) fail("linear", `input ${x} has no rows`);
  const y = g.empty(withLastDim(x.shape, out));
  if (w instanceof Parameter && w.quant !== null) return quantizedLinear(g, x, w, bias, y, n, out);
  if (bias !== null) {
    for (let r = 0; r < n; r++) y.data.set(bias.data, r * out);
  }
  // y (N,OUT) (+)= x (N,IN) · w (OUT,IN)ᵀ
  gemm(x.data, w.data, y.data, n, out, inp, { transB: true, accumulate: bias !== null });
  if (g.needsGrad(x, w, bias)) g.record("linear", y, (dy) => linearBackward(g, x, w, bias, dy, n, out, inp));
  return y;
}

/**
 * linear() of one input through several weights, [x · W_kᵀ + b_k] (a layer's q/k/v, its
 * gate/up). When every weight is held quantized and nothing needs a gradient, one native call
 * for all (x quantized once, one pool dispatch), each output bitwise what linear() gives;
 * otherwise linear() per weight.
 */
export function linears(g: Tape, x: Tensor, ws: readonly Tensor[], biases: readonly (Tensor | null)[]): Tensor[] {
  const fused =
    ws.length > 1 &&
    ws.every((w) => w instanceof Parameter && w.quant !== null && w.ndim === 2 && w.shape[1] === x.cols) &&
    x.rows >= 1 &&
    !g.needsGrad(x, ...biases);
  if (!fused) return ws.map((w, k) => linear(g, x, w, biases[k] ?? null));
  const n = x.rows;
  const ys = ws.map((w, k) => {
    const out = w.shape[0]!,
      b = biases[k] ?? null;
    if (b !== null && b.size !== out) fail("linear", `bias ${b} must have ${out} values`);
    return g.empty(withLastDim(x.shape, out));
  });
  qmatmulMulti(
    ys.map((y) => y.data),
    x.data,
    n,
    ws.map((w) => (w as Parameter).quant!),
  );
  ys.forEach((y, k) => {
    const b = biases[k] ?? null;
    if (b !== null) addBiasRows(g, y.data, b.data, n, ws[k]!.shape[0]!);
  });
  return ys;
}

/**
 * y (n, out) += bias (out) on every row, in place, with no per-row views: one add for one row,
 * else y += 1 (n,1) · bias (1,OUT) as one GEMM (each sum rounded once, as y + bias), whose
 * per-row calls cost a 512-token Qwen2.5-0.5B prefill tens of ms on the main thread.
 */
function addBiasRows(g: Tape, y: Float32Array, bias: Float32Array, n: number, out: number): void {
  if (n === 1) addKernel(y, bias, y, out);
  else gemm(g.onesOf(n), bias, y, n, out, 1, { accumulate: true });
}

/**
 * linear() over a weight held quantized (frozen): y = x · Wᵀ by the quantized kernels, then
 * + bias. Backward flows to x (dx += dy · W, the transposed quantized product: an adapter or a
 * layer below can train over a quantized base) and to the bias; never to W.
 */
function quantizedLinear(g: Tape, x: Tensor, w: Parameter, bias: Tensor | null, y: Tensor, n: number, out: number): Tensor {
  const q = w.quant!;
  qmatmul(y.data, x.data, n, q);
  if (bias !== null) addBiasRows(g, y.data, bias.data, n, out);
  if (g.needsGrad(x, bias)) {
    g.record("linear", y, (dy) => {
      if (x.requiresGrad) {
        // dx (N,IN) = dy (N,OUT) · W, written straight into x's gradient when nothing has flowed
        // there yet, else into the arena's shared transient buffer and added (one buffer for
        // every frozen layer of a step, not one slot each: 84 MB a Qwen2.5-0.5B block at 2,048 rows).
        const direct = g.gradForWrite(x);
        if (direct !== null) qmatmulT(direct, dy, n, q);
        else {
          const dx = g.arena.transient(n * q.cols);
          qmatmulT(dx, dy, n, q);
          axpy(g.grad(x), 1, dx, n * q.cols);
        }
      }
      if (bias?.requiresGrad) gemm(g.onesOf(n), dy, g.grad(bias), 1, out, n, { accumulate: true });
    });
  }
  return y;
}

function linearBackward(g: Tape, x: Tensor, w: Tensor, bias: Tensor | null, dy: Float32Array, n: number, out: number, inp: number): void {
  // dy (N,OUT)
  if (x.requiresGrad) gemm(dy, w.data, g.grad(x), n, inp, out, { accumulate: true }); // dx (N,IN) += dy · w
  if (w.requiresGrad) gemm(dy, x.data, g.grad(w), out, inp, n, { transA: true, accumulate: true }); // dw (OUT,IN) += dyᵀ · x
  if (bias?.requiresGrad) gemm(g.onesOf(n), dy, g.grad(bias), 1, out, n, { accumulate: true }); // dbias (1,OUT) += 1 (1,N) · dy
}

// ---------------------------------------------------------------- embedding

/**
 * out (…,C) = table[ids] for table (V,C); `shape` gives the leading dims of the ids (default
 * [ids.length]). ids must stay unchanged until backward has run.
 */
export function embedding(g: Tape, table: Tensor, ids: Int32Array, shape: readonly number[] = [ids.length]): Tensor {
  if (table.ndim !== 2) fail("embedding", `table must be 2-D (V,C), got ${table}`);
  const v = table.shape[0]!,
    c = table.shape[1]!;
  const n = ids.length;
  if (shape.reduce((p, d) => p * d, 1) !== n) fail("embedding", `ids shape ${shapeStr(shape)} does not hold ${n} ids`);
  const out = g.empty([...shape, c]);
  if (table instanceof Parameter && table.quant !== null) {
    for (let i = 0; i < n; i++) if (!(ids[i]! >= 0 && ids[i]! < v)) fail("embedding", `id ${ids[i]} at ${i} is outside the table's ${v} rows`);
    qrows(out.data, table.quant, ids); // out (N,C) = rows of the quantized table; it is frozen
    return out;
  }
  embeddingForward(out.data, ids, table.data, n, c, v); // out (N,C), ids (N), table (V,C)
  if (g.needsGrad(table)) {
    g.record("embedding", out, (dout) => {
      embeddingBackward(g.grad(table), dout, ids, n, c, v); // dtable (V,C) += scatter of dout (N,C)
    });
  }
  return out;
}

// ---------------------------------------------------------------- normalisation

export interface RmsnormOptions {
  /**
   * Normalise each of `heads` equal slices of a row on its own (per-head q/k norm: x (N, H·D)
   * read as (N·H, D), weight (D)). Default 1.
   */
  heads?: number;
  /** The scale is weight + offset (Gemma's 1 + w: offset 1). Default 0. */
  offset?: number;
}

/**
 * out (…,C) = x · rstd · (weight + offset), rstd = 1/√(mean(x²) + eps) per row (per head
 * slice with `heads`); weight (C / heads).
 */
export function rmsnorm(g: Tape, x: Tensor, weight: Tensor, eps = 1e-5, opts: RmsnormOptions = {}): Tensor {
  const heads = opts.heads ?? 1,
    offset = opts.offset ?? 0;
  if (!Number.isInteger(heads) || heads < 1 || x.cols % heads !== 0) fail("rmsnorm", `input ${x} does not split into ${heads} heads`);
  const c = x.cols / heads,
    n = x.rows * heads;
  if (weight.size !== c) fail("rmsnorm", `weight ${weight} must have ${c} values for input ${x}${heads > 1 ? ` in ${heads} heads` : ""}`);
  const out = g.empty(x.shape);
  const rstd = g.scratch(n); // (N)
  let w = weight.data;
  if (offset !== 0) {
    w = g.scratch(c); // (C) = weight + offset; d(weight + offset)/d(weight) = 1, so dweight is unchanged
    for (let i = 0; i < c; i++) w[i] = weight.data[i]! + offset;
  }
  rmsnormForward(out.data, rstd, x.data, w, n, c, eps);
  if (g.needsGrad(x, weight)) {
    g.record("rmsnorm", out, (dout) => {
      // dx (N,C) +=, dweight (C) += from dout (N,C); a frozen side gets scratch.
      rmsnormBackward(gradOrScratch(g, x), gradOrScratch(g, weight), dout, x.data, w, rstd, n, c);
    });
  }
  return out;
}

/** out (…,C) = (x - mean) · rstd · weight + bias per row; weight (C), bias (C) or null. */
export function layernorm(g: Tape, x: Tensor, weight: Tensor, bias: Tensor | null = null, eps = 1e-5): Tensor {
  const c = x.cols,
    n = x.rows;
  if (weight.size !== c) fail("layernorm", `weight ${weight} must have ${c} values for input ${x}`);
  if (bias !== null && bias.size !== c) fail("layernorm", `bias ${bias} must have ${c} values for input ${x}`);
  const out = g.empty(x.shape);
  const mean = g.scratch(n),
    rstd = g.scratch(n); // (N), (N)
  layernormForward(out.data, mean, rstd, x.data, weight.data, bias === null ? null : bias.data, n, c, eps);
  if (g.needsGrad(x, weight, bias)) {
    g.record("layernorm", out, (dout) => {
      const dbias = bias === null ? null : gradOrScratch(g, bias);
      layernormBackward(gradOrScratch(g, x), gradOrScratch(g, weight), dbias, dout, x.data, weight.data, mean, rstd, n, c);
    });
  }
  return out;
}

// ---------------------------------------------------------------- rotary embedding

export interface RopeOptions {
  /** Heads in the last dimension: x is (…, heads·headDim). */
  heads: number;
  /** Pairs (2i, 2i+1) as llama2.c and GGUF; default false: rotate-half as Hugging Face Llama. */
  interleaved?: boolean;
  /** On a tape that does not record, rotate x itself and return it (no new buffer); ignored on a recording tape. */
  inPlace?: boolean;
}

/**
 * out (N, H·D) = x rotated by position: token i (row i of x) sits at positions[i]. Only the
 * table's first `rot` dims of each head rotate. positions must stay unchanged until backward.
 */
export function rope(g: Tape, x: Tensor, table: RopeTable, positions: Int32Array, opts: RopeOptions): Tensor {
  const n = x.rows,
    h = opts.heads;
  if (!Number.isInteger(h) || h < 1 || x.cols % h !== 0) fail("rope", `input ${x} does not split into ${h} heads`);
  const d = x.cols / h;
  if (table.rot > d) fail("rope", `table rotates ${table.rot} dims, heads have ${d}`);
  if (positions.length !== n) fail("rope", `${positions.length} positions for ${n} tokens`);
  const interleaved = opts.interleaved ?? false;
  const out = opts.inPlace && !g.gradEnabled ? x : g.empty(x.shape);
  // out (N,H,D) = rotate(x (N,H,D)); cos, sin (P, rot/2); out may be x itself
  ropeForward(out.data, x.data, table.cos, table.sin, positions, n, h, d, table.rot, interleaved);
  if (g.needsGrad(x)) {
    g.record("rope", out, (dout) => {
      ropeBackward(g.grad(x), dout, table.cos, table.sin, positions, n, h, d, table.rot, interleaved);
    });
  }
  return out;
}

/** positions (B·T) = start, start+1, …, start+T-1 for each of B sequences, from the arena. */
export function sequencePositions(g: Tape, batch: number, seqLen: number, start = 0): Int32Array {
  const pos = g.arena.allocInt(batch * seqLen);
  for (let b = 0; b < batch; b++) for (let t = 0; t < seqLen; t++) pos[b * seqLen + t] = start + t;
  return pos;
}

// ---------------------------------------------------------------- attention

export interface AttentionOptions {
  /** Sequences B and tokens per sequence T: q, k, v have B·T rows, token-major. */
  batch: number;
  seqLen: number;
  /** Query heads H and key/value heads KVH (H % KVH == 0; KVH < H is grouped-query). */
  heads: number;
  kvHeads?: number;
  /** Softmax scale; default 1/√headDim. */
  scale?: number;
  /**
   * Sliding window: query i sees keys i - window + 1 ..= i. Default none (full causal). A
   * window that cuts (window < seqLen) runs the plain TypeScript kernels of window-attention.ts.
   */
  window?: number;
  /**
   * Packed sequences: lengths of consecutive segments of rows (summing to B·T, none crossing a
   * sequence boundary); a query sees only the keys of its own segment (block-diagonal causal).
   * Each segment runs the causal kernels on its own rows (no kernel of its own). With `window`,
   * the window counts within the segment (a segment no longer than the window is plain causal).
   */
  segments?: Int32Array;
}

type Operand = Tensor | ColumnView;

function operandWidth(o: Operand): number {
  return o instanceof ColumnView ? o.width : o.cols;
}
function operandStride(o: Operand): number {
  return o instanceof ColumnView ? o.stride : o.cols;
}
/** The gradient buffer of an operand, from its first element (a view's columns of its base's). */
function operandGrad(g: Tape, o: Operand, rows: number, width: number): Float32Array {
  if (o instanceof ColumnView) {
    if (!o.base.requiresGrad) return g.arena.zeros((rows - 1) * o.stride + width);
    const gb = g.grad(o.base);
    return o.start === 0 ? gb : gb.subarray(o.start);
  }
  return gradOrScratch(g, o);
}

/**
 * Causal self-attention: out (B·T, H·D) = softmax(q·kᵀ·scale, causal)·v per head, with q
 * (B·T, H·D) and k, v (B·T, KVH·D). q, k, v may be Tensors or ColumnViews of one fused
 * projection (columns(qkv, 0, H·D) …). The per-row log-sum-exp is saved for backward.
 */
export function attention(g: Tape, q: Operand, k: Operand, v: Operand, opts: AttentionOptions): Tensor {
  const { batch: b, seqLen: t, heads: h } = opts;
  const kvh = opts.kvHeads ?? h;
  for (const [name, val] of [
    ["batch", b],
    ["seqLen", t],
    ["heads", h],
    ["kvHeads", kvh],
  ] as const) {
    if (!Number.isInteger(val) || val < 1) fail("attention", `${name} must be a positive integer, got ${val}`);
  }
  if (h % kvh !== 0) fail("attention", `heads ${h} is not a multiple of kvHeads ${kvh}`);
  const rows = b * t;
  const qw = operandWidth(q);
  if (qw % h !== 0) fail("attention", `q width ${qw} does not split into ${h} heads`);
  const d = qw / h;
  for (const [name, o] of [
    ["q", q],
    ["k", k],
    ["v", v],
  ] as const) {
    if (o.rows !== rows) fail("attention", `${name} has ${o.rows} rows, batch·seqLen is ${rows}`);
    const want = name === "q" ? h * d : kvh * d;
    if (operandWidth(o) !== want) fail("attention", `${name} has width ${operandWidth(o)}, expected ${want} (${name === "q" ? h : kvh} heads × ${d})`);
  }
  const scale = opts.scale ?? 1 / Math.sqrt(d);
  const qs = operandStride(q),
    ks = operandStride(k),
    vs = operandStride(v);
  const qd = q.data,
    kd = k.data,
    vd = v.data;
  const out = g.empty(q instanceof Tensor ? q.shape : [rows, h * d]); // (B,T,H,D)
  const lse = g.scratch(b * h * t); // (B,H,T)
  const window = opts.window;
  if (window !== undefined && (!Number.isInteger(window) || window < 1)) fail("attention", `window must be a positive integer, got ${window}`);
  const windowed = window !== undefined && window < t; // a window >= T cuts nothing: the causal kernels
  const segs = opts.segments;
  if (segs !== undefined) {
    checkSegments(segs, b, t);
    const recording = g.needsGrad(q, k, v);
    // Each segment is one sequence of its own rows: offsets by row into q/k/v (strided), out, lse (H,len).
    // A window cuts only inside a segment longer than it; as above, the window kernel runs whole
    // when recording, else only over the rows the causal kernel got wrong.
    forSegments(segs, (r0, len) => {
      const o = out.data.subarray(r0 * h * d),
        l = lse.subarray(r0 * h),
        sq = qd.subarray(r0 * qs),
        sk = kd.subarray(r0 * ks),
        sv = vd.subarray(r0 * vs);
      const cut = window !== undefined && window < len;
      if (cut && recording) windowAttentionForward(o, l, sq, qs, sk, ks, sv, vs, 1, len, h, kvh, d, scale, window);
      else {
        attentionForward(o, l, sq, qs, sk, ks, sv, vs, 1, len, h, kvh, d, scale);
        if (cut) windowAttentionForward(o, l, sq, qs, sk, ks, sv, vs, 1, len, h, kvh, d, scale, window, true);
      }
    });
    if (recording) {
      g.record("attention", out, (dout) => {
        const dq = operandGrad(g, q, rows, h * d),
          dk = operandGrad(g, k, rows, kvh * d),
          dv = operandGrad(g, v, rows, kvh * d);
        forSegments(segs, (r0, len) => {
          const args = [
            dq.subarray(r0 * qs),
            dk.subarray(r0 * ks),
            dv.subarray(r0 * vs),
            dout.subarray(r0 * h * d),
            qd.subarray(r0 * qs),
            qs,
            kd.subarray(r0 * ks),
            ks,
            vd.subarray(r0 * vs),
            vs,
            out.data.subarray(r0 * h * d),
            lse.subarray(r0 * h),
            1,
            len,
            h,
            kvh,
            d,
            scale,
          ] as const;
          if (window !== undefined && window < len) windowAttentionBackward(...args, window);
          else attentionBackward(...args);
        });
      });
    }
    return out;
  }
  if (windowed && g.needsGrad(q, k, v)) windowAttentionForward(out.data, lse, qd, qs, kd, ks, vd, vs, b, t, h, kvh, d, scale, window);
  else {
    attentionForward(out.data, lse, qd, qs, kd, ks, vd, vs, b, t, h, kvh, d, scale);
    // Inference: the causal kernel already gave the rows the window does not cut (i < window).
    if (windowed) windowAttentionForward(out.data, lse, qd, qs, kd, ks, vd, vs, b, t, h, kvh, d, scale, window, true);
  }
  if (g.needsGrad(q, k, v)) {
    g.record("attention", out, (dout) => {
      const dq = operandGrad(g, q, rows, h * d);
      const dk = operandGrad(g, k, rows, kvh * d);
      const dv = operandGrad(g, v, rows, kvh * d);
      // dq, dk, dv (strided like q, k, v) += from dout (B,T,H,D)
      if (windowed) windowAttentionBackward(dq, dk, dv, dout, qd, qs, kd, ks, vd, vs, out.data, lse, b, t, h, kvh, d, scale, window);
      else attentionBackward(dq, dk, dv, dout, qd, qs, kd, ks, vd, vs, out.data, lse, b, t, h, kvh, d, scale);
    });
  }
  return out;
}

/** Segment lengths: positive integers summing to B·T, none crossing from one sequence (T rows) into the next. */
function checkSegments(segs: Int32Array, b: number, t: number): void {
  let r = 0;
  for (let i = 0; i < segs.length; i++) {
    const len = segs[i]!;
    if (!(len >= 1)) fail("attention", `segment ${i} has length ${len}; lengths must be >= 1`);
    if (Math.floor(r / t) !== Math.floor((r + len - 1) / t))
      fail("attention", `segment ${i} (rows ${r}..${r + len - 1}) crosses the end of a sequence of ${t} tokens`);
    r += len;
  }
  if (r !== b * t) fail("attention", `segments cover ${r} rows, batch·seqLen is ${b * t}`);
}

function forSegments(segs: Int32Array, fn: (r0: number, len: number) => void): void {
  for (let i = 0, r = 0; i < segs.length; r += segs[i]!, i++) fn(r, segs[i]!);
}

/** positions (Σ lengths) restarting at 0 at each segment (packed sequences), from the arena. */
export function segmentPositions(g: Tape, segments: Int32Array): Int32Array {
  let n = 0;
  for (const len of segments) n += len;
  const pos = g.arena.allocInt(n);
  for (let i = 0, r = 0; i < segments.length; i++) for (let p = 0; p < segments[i]!; p++) pos[r++] = p;
  return pos;
}

// ---------------------------------------------------------------- element-wise

export interface InPlaceOptions {
  /**
   * On a tape that does not record (inference), write the result over the first input and
   * return it instead of taking a new arena buffer: the input is then gone. Ignored on a
   * recording tape, whose backward still needs the input.
   */
  inPlace?: boolean;
}

/** out = silu(gate) · up, element-wise; gate and up have the same shape. With inPlace, out is gate. */
export function swiglu(g: Tape, gate: Tensor, up: Tensor, opts: InPlaceOptions = {}): Tensor {
  if (!sameShape(gate.shape, up.shape)) fail("swiglu", `gate ${gate} and up ${up} must have the same shape`);
  const n = gate.size;
  const out = opts.inPlace && !g.gradEnabled ? gate : g.empty(gate.shape);
  swigluForward(out.data, gate.data, up.data, n);
  if (g.needsGrad(gate, up)) {
    g.record("swiglu", out, (dout) => {
      swigluBackward(gradOrScratch(g, gate), gradOrScratch(g, up), dout, gate.data, up.data, n);
    });
  }
  return out;
}

/** out = gelu(x) with the tanh approximation (GPT-2's "gelu_new"). */
export function gelu(g: Tape, x: Tensor): Tensor {
  const n = x.size;
  const out = g.empty(x.shape);
  geluForward(out.data, x.data, n);
  if (g.needsGrad(x)) {
    g.record("gelu", out, (dout) => {
      geluBackward(g.grad(x), dout, x.data, n);
    });
  }
  return out;
}

/**
 * GeGLU: out = gelu(gate) · up element-wise, gelu with the tanh approximation (Gemma's
 * gelu_pytorch_tanh). Backward: dgate += dout · up · gelu'(gate), dup += dout · gelu(gate)
 * (recomputed rather than saved).
 */
export function geglu(g: Tape, gate: Tensor, up: Tensor): Tensor {
  if (!sameShape(gate.shape, up.shape)) fail("geglu", `gate ${gate} and up ${up} must have the same shape`);
  const n = gate.size;
  const out = g.empty(gate.shape);
  geluForward(out.data, gate.data, n); // out = gelu(gate)
  const o = out.data,
    u = up.data;
  for (let i = 0; i < n; i++) o[i] = o[i]! * u[i]!;
  if (g.needsGrad(gate, up)) {
    g.record("geglu", out, (dout) => {
      if (gate.requiresGrad) {
        const du = g.scratch(n); // dout · up
        for (let i = 0; i < n; i++) du[i] = dout[i]! * u[i]!;
        geluBackward(g.grad(gate), du, gate.data, n);
      }
      if (up.requiresGrad) {
        const a = g.scratch(n); // gelu(gate)
        geluForward(a, gate.data, n);
        const dup = g.grad(up);
        for (let i = 0; i < n; i++) dup[i] = dup[i]! + dout[i]! * a[i]!;
      }
    });
  }
  return out;
}

/** out = a + b, same shapes (the residual connection). With inPlace, out is a. */
export function add(g: Tape, a: Tensor, b: Tensor, opts: InPlaceOptions = {}): Tensor {
  if (!sameShape(a.shape, b.shape)) fail("add", `${a} and ${b} must have the same shape (no broadcasting)`);
  const n = a.size;
  const out = opts.inPlace && !g.gradEnabled ? a : g.empty(a.shape);
  addKernel(out.data, a.data, b.data, n);
  if (g.needsGrad(a, b)) {
    g.record("add", out, (dout) => {
      if (a.requiresGrad) axpy(g.grad(a), 1, dout, n); // da += dout
      if (b.requiresGrad) axpy(g.grad(b), 1, dout, n); // db += dout
    });
  }
  return out;
}

/** out = x with a new shape of the same size (a copy; the gradient flows back unchanged). */
export function reshape(g: Tape, x: Tensor, shape: readonly number[]): Tensor {
  const out = g.empty(shape);
  if (out.size !== x.size) fail("reshape", `${x} has ${x.size} values; shape ${shapeStr(shape)} needs ${out.size}`);
  out.data.set(x.data);
  if (g.needsGrad(x)) g.record("reshape", out, (dout) => axpy(g.grad(x), 1, dout, x.size)); // dx += dout
  return out;
}

/** out (ΣN_i, C) = the rows of every x_i (N_i, C) one after another; the gradient is split back. */
export function concatRows(g: Tape, xs: readonly Tensor[]): Tensor {
  if (xs.length === 0) fail("concatRows", "needs at least one tensor");
  const c = xs[0]!.cols;
  for (const x of xs) if (x.cols !== c) fail("concatRows", `${x} does not have ${c} columns like ${xs[0]}`);
  const rows = xs.reduce((n, x) => n + x.rows, 0);
  const out = g.empty([rows, c]);
  let o = 0;
  for (const x of xs) out.data.set(x.data, o), (o += x.size);
  if (g.needsGrad(...xs)) {
    g.record("concatRows", out, (dout) => {
      let at = 0;
      for (const x of xs) {
        if (x.requiresGrad) axpy(g.grad(x), 1, dout.subarray(at, at + x.size), x.size);
        at += x.size;
      }
    });
  }
  return out;
}

/** out (N, C) with out[i] = x[index[i]] for x (R, C); dx[index[i]] += dout[i]. index must stay unchanged until backward has run. */
export function gatherRows(g: Tape, x: Tensor, index: Int32Array): Tensor {
  const rows = x.rows,
    c = x.cols,
    n = index.length;
  for (let i = 0; i < n; i++) if (!(index[i]! >= 0 && index[i]! < rows)) fail("gatherRows", `index[${i}] = ${index[i]} is outside the ${rows} rows of ${x}`);
  const out = g.empty([n, c]);
  for (let i = 0; i < n; i++) out.data.set(x.data.subarray(index[i]! * c, (index[i]! + 1) * c), i * c);
  if (g.needsGrad(x)) {
    g.record("gatherRows", out, (dout) => {
      const dx = g.grad(x);
      for (let i = 0; i < n; i++) axpy(dx.subarray(index[i]! * c, (index[i]! + 1) * c), 1, dout.subarray(i * c, (i + 1) * c), c);
    });
  }
  return out;
}

/**
 * Weighted sums of consecutive rows: x (G·T, C) read as G groups of T rows, out (G, C) with
 * out[g] = Σ_t weights[g·T + t] · x[g·T + t] (a masked mean pool when the weights of a group are
 * 1/count on its real rows and 0 on padding). dx[g·T + t] += weights[g·T + t] · dout[g].
 * weights must stay unchanged until backward has run.
 */
export function poolRows(g: Tape, x: Tensor, weights: Float32Array, groups: number): Tensor {
  const rows = x.rows,
    c = x.cols;
  if (weights.length !== rows) fail("poolRows", `${weights.length} weights for ${rows} rows of ${x}`);
  if (!Number.isInteger(groups) || groups < 1 || rows % groups !== 0) fail("poolRows", `${rows} rows of ${x} do not split into ${groups} equal groups`);
  const t = rows / groups;
  const out = g.zeros([groups, c]);
  for (let b = 0; b < groups; b++) {
    for (let r = b * t; r < (b + 1) * t; r++) {
      const w = weights[r]!;
      if (w !== 0) axpy(out.data.subarray(b * c, (b + 1) * c), w, x.data.subarray(r * c, (r + 1) * c), c);
    }
  }
  if (g.needsGrad(x)) {
    g.record("poolRows", out, (dout) => {
      const dx = g.grad(x);
      for (let b = 0; b < groups; b++) {
        for (let r = b * t; r < (b + 1) * t; r++) {
          const w = weights[r]!;
          if (w !== 0) axpy(dx.subarray(r * c, (r + 1) * c), w, dout.subarray(b * c, (b + 1) * c), c);
        }
      }
    });
  }
  return out;
}

/** out = s · x for a constant s (LoRA's alpha/r, embedding multipliers). */
export function scale(g: Tape, x: Tensor, s: number): Tensor {
  if (typeof s !== "number" || !Number.isFinite(s)) fail("scale", `the factor must be a finite number, got ${s}`);
  const n = x.size;
  const out = g.zeros(x.shape);
  axpy(out.data, s, x.data, n); // out = 0 + s·x
  if (g.needsGrad(x)) g.record("scale", out, (dout) => axpy(g.grad(x), s, dout, n)); // dx += s·dout
  return out;
}

/**
 * Inverted dropout: out = x · keep / (1 - p), keep drawn per element from `rng` with
 * probability 1 - p (so out's expectation is x). An inference tape (grad: false) or p = 0
 * returns x itself. The mask (scaled) is saved for backward: dx += dout · mask.
 */
export function dropout(g: Tape, x: Tensor, p: number, rng: Rng): Tensor {
  if (typeof p !== "number" || !(p >= 0 && p < 1)) fail("dropout", `probability must be in [0, 1), got ${p}`);
  if (p === 0 || !g.gradEnabled) return x;
  const n = x.size,
    keep = 1 / (1 - p);
  const mask = g.scratch(n); // (N): 0 or 1/(1-p)
  for (let i = 0; i < n; i++) mask[i] = rng.uniform() < p ? 0 : keep;
  const out = g.empty(x.shape);
  for (let i = 0; i < n; i++) out.data[i] = x.data[i]! * mask[i]!;
  if (g.needsGrad(x)) {
    g.record("dropout", out, (dout) => {
      const dx = g.grad(x);
      for (let i = 0; i < n; i++) dx[i]! += dout[i]! * mask[i]!;
    });
  }
  return out;
}

// ---------------------------------------------------------------- loss

export interface CrossEntropyOptions {
  /** Targets equal to this are skipped (no loss, no gradient, not counted). Default -100. */
  ignoreIndex?: number;
  /**
   * Let backward overwrite the logits' values with their gradient instead of allocating an
   * (N,V) buffer: the largest activation of a language model. Only valid when nothing else's
   * backward reads the logits' values (true for logits straight out of linear/matmul).
   */
  inPlaceGrad?: boolean;
}

/**
 * loss () = mean over the non-ignored rows of -log softmax(logits)[target], logits (…,V),
 * targets one per row. With every row ignored the loss is 0 and so is the gradient.
 * targets must stay unchanged until backward has run.
 */
export function crossEntropy(g: Tape, logits: Tensor, targets: Int32Array, opts: CrossEntropyOptions = {}): Tensor {
  const ignore = opts.ignoreIndex ?? -100;
  const v = logits.cols,
    n = logits.rows;
  if (targets.length !== n) fail("crossEntropy", `${targets.length} targets for ${n} rows of logits ${logits}`);
  let count = 0;
  for (let i = 0; i < n; i++) {
    const tg = targets[i]!;
    if (tg === ignore) continue;
    if (tg < 0 || tg >= v) fail("crossEntropy", `targets[${i}] = ${tg} is outside [0, ${v}) and is not the ignore index ${ignore}`);
    count++;
  }
  const losses = g.scratch(n),
    lse = g.scratch(n); // (N), (N)
  crossEntropyForward(losses, lse, logits.data, targets, n, v, ignore);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += losses[i]!;
  const loss = g.empty([]);
  loss.data[0] = count === 0 ? 0 : sum / count;
  if (g.needsGrad(logits)) {
    g.record("crossEntropy", loss, (dloss) => {
      if (count === 0) return;
      const scale = dloss[0]! / count;
      // dlogits (N,V) = scale · (softmax - onehot): this kernel WRITES.
      if (opts.inPlaceGrad && logits.op !== null && logits.grad === null) {
        crossEntropyBackward(logits.data, logits.data, lse, targets, n, v, ignore, scale);
        logits.grad = logits.data;
        return;
      }
      const direct = g.gradForWrite(logits);
      if (direct !== null) {
        crossEntropyBackward(direct, logits.data, lse, targets, n, v, ignore, scale);
      } else {
        const tmp = g.scratch(n * v);
        crossEntropyBackward(tmp, logits.data, lse, targets, n, v, ignore, scale);
        axpy(logits.grad!, 1, tmp, n * v);
      }
    });
  }
  return loss;
}
