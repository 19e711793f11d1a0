const assert = require("node:assert");
const { loadSettings } = require("./extension_settings");

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

check("stored", () => assert.deepStrictEqual(loadSettings('{"theme":"dark"}'), { theme: "dark", fontSize: 14 }));
check("missing", () => assert.deepStrictEqual(loadSettings(null), { theme: "light", fontSize: 14 }));
check("empty", () => assert.deepStrictEqual(loadSettings(""), { theme: "light", fontSize: 14 }));
check("corrupt", () => assert.deepStrictEqual(loadSettings("{oops"), { theme: "light", fontSize: 14 }));

console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
