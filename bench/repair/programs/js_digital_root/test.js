const assert = require("node:assert");
const { digitalRoot } = require("./check_digit");

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

check("one digit", () => assert.strictEqual(digitalRoot(7), 7));
check("two rounds", () => assert.strictEqual(digitalRoot(38), 2));
check("zero", () => assert.strictEqual(digitalRoot(0), 0));
check("large", () => assert.strictEqual(digitalRoot(987654321), 9));

console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
