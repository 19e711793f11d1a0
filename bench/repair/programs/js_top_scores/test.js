const assert = require("node:assert");
const { topScores } = require("./leaderboard");

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

check("top two", () => assert.deepStrictEqual(topScores([3, 9, 5], 2), [9, 5]));
check("more than there are", () => assert.deepStrictEqual(topScores([1, 2], 5), [2, 1]));
check("caller's order kept", () => {
  const scores = [3, 9, 5];
  topScores(scores, 1);
  assert.deepStrictEqual(scores, [3, 9, 5]);
});

console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
