// A step arena: hands out Float32Arrays (and Int32Arrays) in call order and,
// after reset(), hands the SAME arrays out again in the same order. A training
// step that asks for the same sizes in the same order every time therefore
// allocates nothing after its first step. When a request is smaller than the
// slot's buffer (the last, short batch of an epoch) it gets a view of the
// front of that buffer; when larger, the slot grows (a new allocation, counted).
// Knows nothing about tensors, tapes or kernels.
import { ShapeError, UsageError } from "../errors.ts";

interface Slot<A> {
  /** The memory: grows, never shrinks. */
  buf: A;
  /** What was handed out last: buf itself or a front view of it. */
  view: A;
}

type AnyArray = Float32Array | Int32Array;

class Pool<A extends AnyArray> {
  readonly slots: Slot<A>[] = [];
  cursor = 0;
  constructor(private readonly make: (n: number) => A) {}

  take(n: number, counters: { allocations: number; allocatedElements: number }): A {
    let slot = this.slots[this.cursor];
    if (slot === undefined) {
      const buf = this.make(n);
      counters.allocations++;
      counters.allocatedElements += n;
      slot = { buf, view: buf };
      this.slots.push(slot);
    } else if (slot.view.length !== n) {
      if (slot.buf.length < n) {
        slot.buf = this.make(n);
        counters.allocations++;
        counters.allocatedElements += n;
      }
      slot.view = (slot.buf.length === n ? slot.buf : slot.buf.subarray(0, n)) as A;
    }
    this.cursor++;
    return slot.view;
  }
}

/** A position in an arena's sequence of hand-outs (Arena.mark / Arena.rewind). */
export interface ArenaMark {
  readonly floats: number;
  readonly ints: number;
}

export interface ArenaStats {
  /** Typed arrays created with new memory since the arena was made. */
  allocations: number;
  /** Elements (floats + ints) those allocations hold in total. */
  allocatedElements: number;
  /** Slots handed out since the last reset. */
  inUse: number;
  /** Elements currently owned by the arena (its memory footprint / 4 bytes). */
  capacity: number;
}

export class Arena {
  private readonly floats = new Pool<Float32Array>((n) => new Float32Array(n));
  private readonly ints = new Pool<Int32Array>((n) => new Int32Array(n));
  private readonly counters = { allocations: 0, allocatedElements: 0 };
  private shared: Float32Array = new Float32Array(0);

  /** n floats, contents unspecified (whatever the last step left there). */
  alloc(n: number): Float32Array {
    checkCount(n);
    return this.floats.take(n, this.counters);
  }

  /** n floats, all zero. */
  zeros(n: number): Float32Array {
    return this.alloc(n).fill(0);
  }

  /**
   * n floats from ONE buffer every caller shares (contents unspecified), valid only until the
   * next transient() call: for a value consumed at once, such as a product added into a
   * gradient on the next line. Not a slot: it survives reset() and grows to the largest request.
   */
  transient(n: number): Float32Array {
    checkCount(n);
    if (this.shared.length < n) {
      this.shared = new Float32Array(n);
      this.counters.allocations++;
      this.counters.allocatedElements += n;
    }
    return this.shared.length === n ? this.shared : this.shared.subarray(0, n);
  }

  /** n int32 values, contents unspecified (positions, targets built per step). */
  allocInt(n: number): Int32Array {
    checkCount(n);
    return this.ints.take(n, this.counters);
  }

  /**
   * Starts a new step: the next alloc() returns the array the first alloc() of the previous
   * step returned, and so on. Arrays handed out before are then reused: do not keep them.
   */
  reset(): void {
    this.floats.cursor = 0;
    this.ints.cursor = 0;
  }

  /** Where the next alloc() / allocInt() would hand out from (see rewind). */
  mark(): ArenaMark {
    return { floats: this.floats.cursor, ints: this.ints.cursor };
  }

  /**
   * Hands out again from `m`: the arrays given out since mark() are reused by the next
   * requests, so a loop that rewinds each iteration holds one iteration's arrays, not all of
   * them. Only for arrays nothing refers to any more (an inference pass between layers).
   */
  rewind(m: ArenaMark): void {
    if (m.floats > this.floats.cursor || m.ints > this.ints.cursor)
      throw new UsageError("Arena.rewind: the mark is ahead of the arena (reset since it was taken?)");
    this.floats.cursor = m.floats;
    this.ints.cursor = m.ints;
  }

  /** Forgets every buffer (frees the memory to the garbage collector). */
  clear(): void {
    this.floats.slots.length = 0;
    this.ints.slots.length = 0;
    this.shared = new Float32Array(0);
    this.reset();
  }

  get allocations(): number {
    return this.counters.allocations;
  }

  stats(): ArenaStats {
    let capacity = 0;
    for (const s of this.floats.slots) capacity += s.buf.length;
    for (const s of this.ints.slots) capacity += s.buf.length;
    capacity += this.shared.length;
    return { ...this.counters, inUse: this.floats.cursor + this.ints.cursor, capacity };
  }
}

function checkCount(n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new ShapeError(`Arena: element count must be a non-negative integer, got ${n}`);
  if (n > 2 ** 31 - 1) throw new UsageError(`Arena: ${n} elements is more than one typed array can hold`);
}
