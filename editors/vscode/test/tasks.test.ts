import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { outcomeOf, parseResult, runTaskArgs, TASK_COMMANDS } from "../src/tasks";

const at = (line: number, character: number) => ({ line, character });

describe("runTaskArgs", () => {
  test("a cursor: its line, for the code unit around it", () => {
    assert.deepEqual(runTaskArgs("file:///a.py", 7, "fix", { start: at(4, 3), end: at(4, 3) }), {
      uri: "file:///a.py",
      task: "fix",
      line: 4,
      endLine: 4,
      endCharacter: 0,
      version: 7,
    });
  });

  test("a selection over lines keeps where it ends, so the server knows if the last line is in", () => {
    assert.deepEqual(runTaskArgs("u", 1, "refactor", { start: at(2, 0), end: at(9, 0) }), {
      uri: "u",
      task: "refactor",
      line: 2,
      endLine: 9,
      endCharacter: 0,
      version: 1,
    });
    assert.equal(runTaskArgs("u", 1, "clean", { start: at(2, 4), end: at(9, 12) }).endCharacter, 12);
  });

  test("a reversed span is put in order", () => {
    const args = runTaskArgs("u", 1, "debug", { start: at(9, 5), end: at(2, 1) });
    assert.deepEqual([args.line, args.endLine, args.endCharacter], [2, 9, 5]);
  });

  test("every palette task maps to a server task", () => {
    assert.deepEqual(
      TASK_COMMANDS.map((entry) => entry.task),
      ["fix", "debug", "clean", "refactor", "analyze"],
    );
  });
});

describe("outcomeOf", () => {
  test("a rewrite that was applied: a short notice", () => {
    assert.deepEqual(outcomeOf("fix", { applied: true, message: "Fix done by code-llama-7b", model: "code-llama-7b", edits: 3 }), {
      kind: "notice",
      text: "Free-S_Code: Fix done by code-llama-7b",
    });
  });

  test("a rewrite that was not applied: only logged, the server has said why", () => {
    assert.deepEqual(outcomeOf("clean", { applied: false, message: "cancelled", edits: 0 }), { kind: "log", text: "clean: cancelled" });
  });

  test("Explain with markdown shows it; without, logs", () => {
    assert.deepEqual(outcomeOf("analyze", { applied: false, markdown: "**adds**", model: "deepseek-coder-6.7b", message: null }), {
      kind: "explain",
      markdown: "**adds**",
      model: "deepseek-coder-6.7b",
    });
    assert.equal(outcomeOf("analyze", { applied: false, markdown: null, message: "no model could run" }).kind, "log");
  });

  test("Find bugs: findings are announced, failures only logged", () => {
    assert.deepEqual(outcomeOf("debug", { applied: false, findings: 2, model: "m", message: "Find bugs: 2 possible bugs, by m" }), {
      kind: "info",
      text: "Free-S_Code: Find bugs: 2 possible bugs, by m",
      problems: true,
    });
    const none = outcomeOf("debug", { applied: false, findings: 0, model: "m", message: "Find bugs: no bugs, by m" });
    assert.deepEqual(none, { kind: "info", text: "Free-S_Code: Find bugs: no bugs, by m", problems: false });
    assert.equal(outcomeOf("debug", { applied: false, findings: 0, model: null, message: "the document is empty" }).kind, "log");
  });

  test("no answer at all is an error", () => {
    assert.equal(outcomeOf("fix", null).kind, "error");
    assert.equal(outcomeOf("fix", [1]).kind, "error");
    assert.equal(parseResult("x"), undefined);
  });
});
