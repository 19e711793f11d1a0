const assert = require("node:assert");
const { extent } = require("./sparkline");

let passed = 0;
let failed = 0;

function check(name, body) {
  // One test: counted as passed, or as failed with the reason printed.
  try {
    body();
    passed += 1;
  } catch (error) {
    failed += 1;
    console.log(`FAIL ${name}: ${error.message}`);
  }
}

check("several", () => assert.deepStrictEqual(extent([3, 1, 2]), [1, 3]));
check("one", () => assert.deepStrictEqual(extent([5]), [5, 5]));
check("negative", () => assert.deepStrictEqual(extent([-2, 8]), [-2, 8]));

console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
