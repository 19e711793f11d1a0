import assert from "node:assert/strict";
import { test } from "node:test";

import { CrashLimiter } from "../src/restart";

test("five restarts in three minutes, then the server stays down", () => {
  const limiter = new CrashLimiter();
  for (let i = 0; i < 5; i++) {
    assert.equal(limiter.crashed(i * 1000), true, `crash ${i + 1}`);
  }
  assert.equal(limiter.crashed(6000), false);
  assert.match(limiter.giveUpMessage(), /6 times in 3 minutes/);
});

test("old crashes are forgotten after the window, and on reset", () => {
  const limiter = new CrashLimiter(2, 1000);
  assert.equal(limiter.crashed(0), true);
  assert.equal(limiter.crashed(10), true);
  assert.equal(limiter.crashed(20), false);
  assert.equal(limiter.crashed(1500), true);
  limiter.reset();
  assert.equal(limiter.crashed(1501), true);
  assert.equal(limiter.crashed(1502), true);
});
