const assert = require("node:assert");
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");

const sandbox = { module: { exports: {} } };
vm.createContext(sandbox);
vm.runInContext(fs.readFileSync(path.join(__dirname, "scoreboard.js"), "utf8"), sandbox);

function call(expression) {
  // Run in the sandbox with a time limit, so that an endless loop fails its test instead of hanging the run.
  return vm.runInContext(expression, sandbox, { timeout: 2000 });
}

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

check("letters only", () => assert.strictEqual(call('module.exports.countLetters("abc")'), 3));
check("empty", () => assert.strictEqual(call('module.exports.countLetters("")'), 0));
check("with spaces and punctuation", () => assert.strictEqual(call('module.exports.countLetters("a b, c!")'), 3));

console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
