import assert from "node:assert/strict";
import { test } from "node:test";

import { ConfigError, UsageError } from "../errors.ts";
import { type LrSchedule, lrAt, scheduleFn, validateSchedule } from "./schedule.ts";

const near = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

test("constant with warmup: linear ramp reaching the peak at the end of warmup", () => {
  const s: LrSchedule = { kind: "constant", lr: 1e-3, warmupSteps: 4 };
  near(lrAt(s, 0), 0.25e-3, "step 0");
  near(lrAt(s, 1), 0.5e-3, "step 1");
  near(lrAt(s, 3), 1e-3, "step 3");
  near(lrAt(s, 1000), 1e-3, "late");
  near(lrAt({ kind: "constant", lr: 0.5 }, 0), 0.5, "no warmup");
});

test("cosine: peak after warmup, half-way at the midpoint, min ratio at and after the end", () => {
  const s: LrSchedule = { kind: "cosine", lr: 1, warmupSteps: 10, totalSteps: 110, minRatio: 0.1 };
  near(lrAt(s, 0), 0.1, "warmup start");
  near(lrAt(s, 9), 1, "warmup end");
  near(lrAt(s, 10), 1, "decay start");
  near(lrAt(s, 60), 0.55, "midpoint: (1 + 0.1) / 2");
  near(lrAt(s, 110), 0.1, "end");
  near(lrAt(s, 500), 0.1, "after the end");
  let prev = Infinity;
  for (let i = 10; i <= 110; i++) {
    const v = lrAt(s, i);
    assert.ok(v <= prev, `monotone decay at ${i}`);
    prev = v;
  }
  near(lrAt({ kind: "cosine", lr: 2, totalSteps: 4 }, 4), 0.2, "default minRatio 0.1");
});

test("wsd: warmup, flat, then decay over the last fraction", () => {
  const s: LrSchedule = { kind: "wsd", lr: 1, warmupSteps: 5, totalSteps: 100, decayFraction: 0.2, minRatio: 0 };
  near(lrAt(s, 4), 1, "warmup end");
  near(lrAt(s, 50), 1, "stable");
  near(lrAt(s, 79), 1, "last stable step");
  near(lrAt(s, 80), 1, "decay starts at the peak");
  near(lrAt(s, 90), 0.5, "half-way through a linear decay");
  near(lrAt(s, 100), 0, "end");
  const cos: LrSchedule = { ...s, decayShape: "cosine", minRatio: 0.2 };
  near(lrAt(cos, 90), 0.6, "cosine decay half-way: (1 + 0.2) / 2");
  near(lrAt(cos, 100), 0.2, "cosine end at min ratio");
});

test("schedules are pure: same step, same value, any order", () => {
  const f = scheduleFn({ kind: "cosine", lr: 3e-4, warmupSteps: 7, totalSteps: 50 });
  const forward = Array.from({ length: 60 }, (_, i) => f(i));
  const backward = Array.from({ length: 60 }, (_, i) => f(59 - i)).reverse();
  assert.deepEqual(forward, backward);
});

test("invalid schedules throw ConfigError naming the field", () => {
  const bad: [unknown, RegExp][] = [
    [{ kind: "linear", lr: 1 }, /unknown kind/],
    [{ kind: "constant", lr: -1 }, /lr must be/],
    [{ kind: "constant", lr: Number.NaN }, /lr must be/],
    [{ kind: "constant", lr: 1, warmupSteps: 1.5 }, /warmupSteps/],
    [{ kind: "cosine", lr: 1, totalSteps: 0 }, /totalSteps/],
    [{ kind: "cosine", lr: 1, totalSteps: 10, warmupSteps: 10 }, /less than totalSteps/],
    [{ kind: "cosine", lr: 1, totalSteps: 10, minRatio: 1.5 }, /minRatio/],
    [{ kind: "wsd", lr: 1, totalSteps: 10, decayFraction: 0 }, /decayFraction/],
    [{ kind: "wsd", lr: 1, totalSteps: 10, decayFraction: 0.5, warmupSteps: 6 }, /exceed totalSteps/],
    [{ kind: "wsd", lr: 1, totalSteps: 10, decayShape: "step" }, /decayShape/],
    [null, /expected an object/],
  ];
  for (const [s, msg] of bad) {
    assert.throws(
      () => validateSchedule(s as LrSchedule),
      (e: unknown) => e instanceof ConfigError && msg.test(e.message),
      JSON.stringify(s),
    );
  }
  assert.throws(() => lrAt({ kind: "constant", lr: 1 }, -1), UsageError);
  assert.throws(() => lrAt({ kind: "constant", lr: 1 }, 0.5), UsageError);
});
