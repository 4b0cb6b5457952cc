// Source lists for binding.gyp, so a new kernel file needs no edit there:
// every native/src/kernels/*.cpp is compiled once per instruction set (isa),
// everything else under native/src is compiled once (common).
const fs = require("fs");
const path = require("path");
const root = path.join(__dirname, "src");
const list = (dir) =>
  fs.readdirSync(path.join(root, dir))
    .filter((f) => f.endsWith(".cpp"))
    .sort()
    .map((f) => path.posix.join("native/src", dir, f));
module.exports = {
  isa: list("kernels"),
  common: [...list("."), ...list("addon")],
};
