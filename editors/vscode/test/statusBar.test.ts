import assert from "node:assert/strict";
import { test } from "node:test";

import { SHOW_OUTPUT_COMMAND, StatusBar } from "../src/statusBar";
import type { FakeStatusBarItem } from "./helpers/vscode-mock";

function itemOf(bar: StatusBar): FakeStatusBarItem {
  return (bar as unknown as { item: FakeStatusBarItem }).item;
}

test("the item shows the output on click and follows freescode/status", () => {
  const bar = new StatusBar();
  const item = itemOf(bar);
  assert.equal(item.visible, true);
  assert.equal(item.command, SHOW_OUTPUT_COMMAND);
  bar.setServerState("running");
  bar.update({ state: "streaming", task: "fix", model: "code-llama-7b", completionTokens: 0 });
  assert.equal(item.text, "$(sync~spin) Fix · code-llama-7b");
  bar.update({ state: "done", task: "fix", model: "code-llama-7b", engine: "local", tokensPerSecond: 40, costUsd: 0 });
  assert.equal(item.text, "$(sparkle) code-llama-7b · local · 40.0 tok/s · $0");
  assert.equal(item.backgroundColor, undefined);
  bar.update("not an object");
  bar.update(null);
  assert.equal(item.text, "$(sparkle) code-llama-7b · local · 40.0 tok/s · $0");
  bar.setServerState("stopped");
  assert.equal(item.text, "$(circle-slash) Free-S_Code");
  assert.ok(item.backgroundColor);
  bar.dispose();
  assert.equal(item.visible, false);
});
