const assert = require("node:assert");
const { isStrongPassword } = require("./signup");

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

check("exactly the minimum", () => assert.strictEqual(isStrongPassword("abcd1234"), true));
check("too short", () => assert.strictEqual(isStrongPassword("abc123"), false));
check("no digit", () => assert.strictEqual(isStrongPassword("abcdefghij"), false));
check("long enough", () => assert.strictEqual(isStrongPassword("abcdefgh12"), true));

console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
