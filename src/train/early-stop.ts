// Early stopping on validation loss. A small folder of documents is seen
// many times over in a few minutes of training, and past some point the
// model memorises it: training loss keeps falling while validation loss
// rises (the 200-section sample handbook: 5.3 after 300 steps, 8.7 after
// 2000). EarlyStopping watches the trainer's eval events, keeps a copy of the
// weights at the best validation loss, and raises its signal once `patience`
// evaluations in a row have not improved on it; the caller passes the signal
// to train() and afterwards puts the best weights back.
//
// The copy lives in memory (one Float32Array per parameter: the size of the
// model again), so it is not part of a checkpoint: a resumed run tracks its
// best from the point it resumes.
import type { CausalLM } from "../models/index.ts";
import { EARLY_STOP, type TrainEvent } from "./trainer.ts";

/** A copy of the parameters at the best validation loss so far. */
export class BestWeights {
  loss = Infinity;
  step = -1;
  /** Step of the latest evaluation observed. */
  lastStep = -1;
  private copy: Float32Array[] | null = null;
  private sinceBest = 0;
  constructor(private readonly model: CausalLM) {}
  /** Records an evaluation; returns how many evaluations in a row did not improve on the best. */
  observe(step: number, loss: number): number {
    this.lastStep = step;
    if (Number.isFinite(loss) && loss < this.loss) {
      this.loss = loss;
      this.step = step;
      this.copy = this.model.parameters().map((p) => p.data.slice());
      this.sinceBest = 0;
    } else this.sinceBest++;
    return this.sinceBest;
  }
  /** Puts the best weights back when they beat the final validation loss. */
  restoreIfBetter(finalLoss: number | null): boolean {
    if (!this.copy || finalLoss === null || !(this.loss < finalLoss)) return false;
    const params = this.model.parameters();
    for (let i = 0; i < params.length; i++) params[i]!.data.set(this.copy[i]!);
    return true;
  }
}

/** Stops a run once validation loss has not improved for `patience` evaluations in a row. */
export class EarlyStopping {
  readonly best: BestWeights;
  private readonly ac = new AbortController();
  constructor(
    model: CausalLM,
    readonly patience: number,
  ) {
    if (!Number.isInteger(patience) || patience < 1) throw new RangeError(`patience must be an integer >= 1, got ${patience}`);
    this.best = new BestWeights(model);
  }
  /** Aborts when the run should stop; give it to train() (with any other signal: AbortSignal.any). */
  get signal(): AbortSignal {
    return this.ac.signal;
  }
  /** Whether this object stopped the run. */
  get triggered(): boolean {
    return this.ac.signal.aborted;
  }
  /** Feed every trainer event here (the final evaluation of a run is seen once, like the others). */
  observe(e: TrainEvent): void {
    if (e.type !== "eval" || e.step === this.best.lastStep) return;
    if (this.best.observe(e.step, e.valLoss) >= this.patience) this.ac.abort(EARLY_STOP);
  }
}
