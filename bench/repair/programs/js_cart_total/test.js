const assert = require("node:assert");
const { cartTotal } = require("./cart.js");

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

check("one", () => assert.strictEqual(cartTotal([{ price: 6.25, quantity: 2 }]), "12.50"));
check("two", () => assert.strictEqual(cartTotal([{ price: 1.1, quantity: 3 }, { price: 0.99, quantity: 1 }]), "4.29"));
check("empty", () => assert.strictEqual(cartTotal([]), "0.00"));

console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
