const assert = require("node:assert");
const { pageNumbers } = require("./pager");

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

check("a range", () => assert.deepStrictEqual(pageNumbers(1, 3), [1, 2, 3]));
check("one page", () => assert.deepStrictEqual(pageNumbers(4, 4), [4]));
check("backwards is empty", () => assert.deepStrictEqual(pageNumbers(5, 2), []));

console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
