// Tests of the Prometheus text exposition: cumulative histogram buckets with
// _sum and _count, counters by label set, label escaping, gauges read at scrape.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Registry } from "./metrics.ts";

test("histogram buckets are cumulative, +Inf equals the count, _sum adds the observations", () => {
  const r = new Registry();
  const h = r.histogram("lat_seconds", "latency", [0.1, 1, 10]);
  for (const v of [0.05, 0.1, 0.5, 3, 50]) h.observe(v, { route: "/a" });
  h.observe(2, { route: "/b" });
  const t = r.text();
  const lines = t.split("\n");
  const bucket = (route: string, le: string) => lines.find((l) => l.startsWith(`lat_seconds_bucket{route="${route}",le="${le}"} `))?.split(" ")[1];
  assert.deepEqual(
    ["0.1", "1", "10", "+Inf"].map((le) => bucket("/a", le)),
    ["2", "3", "4", "5"],
  );
  assert.deepEqual(
    ["0.1", "1", "10", "+Inf"].map((le) => bucket("/b", le)),
    ["0", "0", "1", "1"],
  );
  assert.ok(lines.includes(`lat_seconds_sum{route="/a"} ${0.05 + 0.1 + 0.5 + 3 + 50}`));
  assert.ok(lines.includes('lat_seconds_count{route="/a"} 5'));
  assert.equal(h.count({ route: "/b" }), 1);
  assert.ok(t.startsWith("# HELP lat_seconds latency\n# TYPE lat_seconds histogram\n"));
  assert.ok(t.endsWith("\n"));
  assert.throws(() => r.histogram("bad", "x", [1, 1]), /ascend/);
});

test("counters keep one series per label set (order-independent), escape label values, refuse negative increments", () => {
  const r = new Registry();
  const c = r.counter("req_total", "requests");
  c.inc({ a: "1", b: "2" });
  c.inc({ b: "2", a: "1" }, 2);
  c.inc({ a: 'q"uote\\back\nline', b: "x" });
  assert.equal(c.get({ a: "1", b: "2" }), 3);
  const t = r.text();
  assert.match(t, /^req_total\{a="1",b="2"\} 3$/m);
  assert.ok(t.includes('req_total{a="q\\"uote\\\\back\\nline",b="x"} 1'));
  assert.throws(() => c.inc({}, -1), /must be >= 0/);
  assert.throws(() => r.counter("req_total", "again"), /registered twice/);
  assert.throws(() => r.counter("bad name", "x"), /invalid metric name/);
});

test("gauges are read when scraped", () => {
  const r = new Registry();
  let depth = 3;
  r.gauge("queue_depth", "waiting", () => depth);
  assert.match(r.text(), /^queue_depth 3$/m);
  depth = 0;
  assert.match(r.text(), /^queue_depth 0$/m);
});
