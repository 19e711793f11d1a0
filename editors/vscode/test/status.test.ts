import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { applyStatus, engineLabel, formatUsd, initialStatus, renderStatus, withServerState, type StatusModel } from "../src/status";

const running = (): StatusModel => withServerState(initialStatus(), "running");

const done = {
  state: "done",
  task: "fix",
  model: "code-llama-7b",
  requestedModel: "code-llama-7b",
  engine: "local",
  promptTokens: 120,
  completionTokens: 94,
  seconds: 2,
  tokensPerSecond: 47,
  costUsd: 0,
  problem: null,
};

describe("status", () => {
  test("starting, ready and stopped", () => {
    assert.equal(renderStatus(initialStatus()).text, "$(sync~spin) Free-S_Code");
    assert.equal(renderStatus(running()).text, "$(sparkle) Free-S_Code");
    const stopped = renderStatus(withServerState(running(), "stopped"));
    assert.equal(stopped.text, "$(circle-slash) Free-S_Code");
    assert.equal(stopped.warning, true);
    assert.match(stopped.tooltip, /Restart Server/);
  });

  test("a spinner with task and model while streaming", () => {
    const model = applyStatus(running(), { state: "streaming", task: "refactor", model: "wizardcoder-python-34b", completionTokens: 0 });
    assert.equal(model.busy, true);
    assert.equal(renderStatus(model).text, "$(sync~spin) Refactor · wizardcoder-python-34b");
    const later = applyStatus(model, { state: "streaming", task: "refactor", model: "wizardcoder-python-34b", completionTokens: 12 });
    assert.equal(renderStatus(later).text, "$(sync~spin) Refactor · wizardcoder-python-34b · 12 tok");
  });

  test("debug's running state spins too", () => {
    const model = applyStatus(running(), { state: "running", task: "debug", model: "starcoder2-15b" });
    assert.match(renderStatus(model).text, /^\$\(sync~spin\) Find bugs · starcoder2-15b/);
  });

  test("after a task: model, engine, tokens/s and the session's spend", () => {
    const model = applyStatus(running(), done);
    const view = renderStatus(model);
    assert.equal(view.text, "$(sparkle) code-llama-7b · local · 47.0 tok/s · $0");
    assert.equal(view.warning, false);
    assert.match(view.tooltip, /Tokens: 120 prompt \+ 94 completion in 2\.0 s \(47\.0 tokens\/s\)/);
    assert.match(view.tooltip, /Engine: local/);
  });

  test("costs add up over tasks; a long engine name is shortened in the text only", () => {
    let model = applyStatus(running(), { ...done, engine: "node:http://very-long-host-name.example.org:9001", costUsd: 0.0021 });
    model = applyStatus(model, { ...done, costUsd: 0.0105 });
    assert.equal(model.tasks, 2);
    assert.ok(Math.abs(model.spentUsd - 0.0126) < 1e-12);
    assert.equal(renderStatus(model).text, "$(sparkle) code-llama-7b · local · 47.0 tok/s · $0.01");
    const first = renderStatus(applyStatus(running(), { ...done, engine: "node:http://very-long-host-name.example.org:9001" }));
    assert.equal(first.text, "$(sparkle) code-llama-7b · very-long-host-name.exa… · 47.0 tok/s · $0");
    assert.match(first.tooltip, /Engine: node:http:\/\/very-long-host-name\.example\.org:9001/);
    assert.equal(engineLabel("node:http://127.0.0.1:9001/"), "127.0.0.1:9001");
    assert.equal(engineLabel("local"), "local");
  });

  test("a failed task warns and says why; a fallback model is named with the routed one", () => {
    const model = applyStatus(running(), {
      ...done,
      state: "failed",
      model: "gemma-3-270m",
      tokensPerSecond: null,
      problem: "the model's answer could not be used",
      fallbackReason: "code-llama-7b@node:http://n1 failed: 503",
    });
    const view = renderStatus(model);
    assert.equal(view.text, "$(warning) gemma-3-270m · local · $0");
    assert.equal(view.warning, true);
    assert.match(view.tooltip, /Problem: the model's answer could not be used/);
    assert.match(view.tooltip, /Model: gemma-3-270m \(routed: code-llama-7b\)/);
    assert.match(view.tooltip, /Why not code-llama-7b: code-llama-7b@node:http:\/\/n1 failed: 503/);
    assert.doesNotMatch(renderStatus(applyStatus(running(), done)).tooltip, /Why not/);
  });

  test("a restart keeps the spend", () => {
    const model = withServerState(withServerState(applyStatus(running(), { ...done, costUsd: 1.5 }), "stopped"), "running");
    assert.equal(model.spentUsd, 1.5);
    assert.equal(model.busy, false);
  });

  test("formatUsd", () => {
    assert.equal(formatUsd(0), "$0");
    assert.equal(formatUsd(0.000123), "$0.0001");
    assert.equal(formatUsd(0.0123), "$0.01");
    assert.equal(formatUsd(12.345), "$12.35");
  });
});
