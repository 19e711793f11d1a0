const assert = require("node:assert");
const { userLabel } = require("./users.js");

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

const USERS = [{ id: 1, name: "Ada", email: "ada@example.org" }, { id: 2, name: "Linus", email: "linus@example.org" }];

check("known", () => assert.strictEqual(userLabel(USERS, 2), "Linus <linus@example.org>"));
check("first", () => assert.strictEqual(userLabel(USERS, 1), "Ada <ada@example.org>"));
check("unknown", () => assert.strictEqual(userLabel(USERS, 3), "unknown user"));
check("nobody", () => assert.strictEqual(userLabel([], 1), "unknown user"));

console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
