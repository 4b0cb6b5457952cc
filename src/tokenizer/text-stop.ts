// Stop strings on streamed text: pieces of decoded text go in, the text safe
// to show comes out, up to (not including) the first stop string. Text that
// could still be the start of a stop string is held back until the next piece
// decides it. Works on strings only; knows nothing about tokens or models
// (token-id stops are generate()'s job, in src/infer).

export class TextStopper {
  private held = "";
  private done = false;
  /** Everything released so far (the output text). */
  text = "";

  constructor(private readonly stops: readonly string[]) {
    this.stops = stops.filter((s) => s.length > 0);
  }

  /** Whether a stop string has been seen. */
  get stopped(): boolean {
    return this.done;
  }

  /** Adds a piece; returns the text that may be shown now ("" once stopped). */
  push(piece: string): string {
    if (this.done) return "";
    const buf = this.held + piece;
    let cut = -1;
    for (const s of this.stops) {
      const at = buf.indexOf(s);
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) {
      this.done = true;
      this.held = "";
      return this.release(buf.slice(0, cut));
    }
    // Hold back the longest suffix that is a proper prefix of a stop string.
    let hold = 0;
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, buf.length); k > hold; k--) {
        if (buf.endsWith(s.slice(0, k))) {
          hold = k;
          break;
        }
      }
    }
    this.held = buf.slice(buf.length - hold);
    return this.release(buf.slice(0, buf.length - hold));
  }

  /** At the end of generation: the held-back text, which turned out not to start a stop string. */
  flush(): string {
    if (this.done) return "";
    const rest = this.held;
    this.held = "";
    return this.release(rest);
  }

  private release(s: string): string {
    this.text += s;
    return s;
  }
}
