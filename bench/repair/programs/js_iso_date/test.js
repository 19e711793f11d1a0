const assert = require("node:assert");
const { isoDate } = require("./export_names");

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

check("single digits", () => assert.strictEqual(isoDate(new Date(Date.UTC(2024, 2, 7))), "2024-03-07"));
check("double digits", () => assert.strictEqual(isoDate(new Date(Date.UTC(2024, 10, 25))), "2024-11-25"));
check("first of december", () => assert.strictEqual(isoDate(new Date(Date.UTC(1999, 11, 1))), "1999-12-01"));

console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
