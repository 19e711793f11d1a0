import assert from "node:assert/strict";
import { beforeEach, describe, test } from "node:test";

import type * as vscode from "vscode";

import { fixAndVerifyOnEditor, runTaskOnEditor, showCliReport, type TaskServer } from "../src/commands";
import type { Environment } from "../src/executable";
import type { CliResult } from "../src/reports";
import type { RunTaskArgs } from "../src/tasks";
import type { ClientSettings } from "../src/vscodeSettings";
import { createOutputChannel, mock, Uri, type FakeOutputChannel } from "./helpers/vscode-mock";

class FakeServer implements TaskServer {
  running = true;
  started = 0;
  coversAll = true;
  requests: RunTaskArgs[] = [];
  verified: RunTaskArgs[] = [];
  answer: unknown = { applied: true, message: "Fix done by code-llama-7b", model: "code-llama-7b" };

  start(): Promise<void> {
    this.started += 1;
    return Promise.resolve();
  }

  asServerUri(uri: vscode.Uri): string {
    return uri.toString();
  }

  covers(): boolean {
    return this.coversAll;
  }

  runTask(args: RunTaskArgs): Promise<unknown> {
    this.requests.push(args);
    return this.answer instanceof Error ? Promise.reject(this.answer) : Promise.resolve(this.answer);
  }

  fixVerified(args: RunTaskArgs): Promise<unknown> {
    this.verified.push(args);
    return this.answer instanceof Error ? Promise.reject(this.answer) : Promise.resolve(this.answer);
  }
}

function editorAt(startLine: number, startCharacter: number, endLine: number, endCharacter: number): void {
  mock.activeTextEditor = {
    document: { uri: Uri.file("/p/stats.py"), fileName: "/p/stats.py", languageId: "python", version: 12 },
    selection: { start: { line: startLine, character: startCharacter }, end: { line: endLine, character: endCharacter } },
  };
}

function ui(): { output: FakeOutputChannel & vscode.OutputChannel; explained: unknown[][]; showExplanation: (...args: unknown[]) => Promise<void> } {
  const explained: unknown[][] = [];
  return {
    output: createOutputChannel() as FakeOutputChannel & vscode.OutputChannel,
    explained,
    showExplanation: (...args: unknown[]) => {
      explained.push(args);
      return Promise.resolve();
    },
  };
}

describe("runTaskOnEditor", () => {
  beforeEach(() => mock.reset());

  test("no editor: a warning, nothing sent", async () => {
    const server = new FakeServer();
    await runTaskOnEditor("fix", server, ui());
    assert.equal(server.requests.length, 0);
    assert.match(mock.messages[0].text, /open a file first/);
  });

  test("a language the server is not told about: says which setting to change", async () => {
    editorAt(1, 0, 1, 0);
    const server = new FakeServer();
    server.coversAll = false;
    await runTaskOnEditor("fix", server, ui());
    assert.equal(server.requests.length, 0);
    assert.match(mock.messages[0].text, /"freescode\.languages"/);
  });

  test("the server not running: starts it, and says so if it still is not", async () => {
    editorAt(1, 0, 1, 0);
    const server = new FakeServer();
    server.running = false;
    await runTaskOnEditor("fix", server, ui());
    assert.equal(server.started, 1);
    assert.equal(server.requests.length, 0);
    assert.match(mock.messages[0].text, /Restart Server/);
  });

  test("Fix at the cursor: runTask with the document's URI and version; a notice when applied", async () => {
    editorAt(4, 7, 4, 7);
    const server = new FakeServer();
    const out = ui();
    await runTaskOnEditor("fix", server, out);
    assert.deepEqual(server.requests, [{ uri: "file:///p/stats.py", task: "fix", line: 4, endLine: 4, endCharacter: 0, version: 12 }]);
    assert.deepEqual(mock.statusMessages, ["Free-S_Code: Fix done by code-llama-7b"]);
    assert.deepEqual(mock.messages, []);
    assert.deepEqual(out.output.lines, ["Free-S_Code: Fix done by code-llama-7b"]);
  });

  test("Refactor on a selection sends its lines", async () => {
    editorAt(2, 0, 9, 0);
    const server = new FakeServer();
    server.answer = { applied: false, message: "cancelled", edits: 0 };
    await runTaskOnEditor("refactor", server, ui());
    assert.deepEqual(server.requests[0], { uri: "file:///p/stats.py", task: "refactor", line: 2, endLine: 9, endCharacter: 0, version: 12 });
    assert.deepEqual(mock.messages, [], "the server already told the user why");
  });

  test("Explain opens the explanation", async () => {
    editorAt(4, 0, 4, 0);
    const server = new FakeServer();
    server.answer = { applied: false, markdown: "Adds *numbers*.", model: "deepseek-coder-6.7b", message: null };
    const out = ui();
    await runTaskOnEditor("analyze", server, out);
    assert.equal(server.requests[0].task, "analyze");
    assert.deepEqual(out.explained, [["stats.py, code around line 5", "Adds *numbers*.", "deepseek-coder-6.7b"]]);
  });

  test("Find Bugs with findings offers the Problems view", async () => {
    editorAt(0, 0, 20, 0);
    const server = new FakeServer();
    server.answer = { applied: false, findings: 2, model: "starcoder2-15b", message: "Find bugs: 2 possible bugs, by starcoder2-15b" };
    mock.choice = "Show Problems";
    await runTaskOnEditor("debug", server, ui());
    assert.deepEqual(mock.messages, [{ level: "info", text: "Free-S_Code: Find bugs: 2 possible bugs, by starcoder2-15b", items: ["Show Problems"] }]);
    assert.deepEqual(mock.executed, [{ command: "workbench.actions.view.problems", args: [] }]);
  });

  test("a request that fails is an error message", async () => {
    editorAt(1, 0, 1, 0);
    const server = new FakeServer();
    server.answer = new Error("Request workspace/executeCommand failed.");
    await runTaskOnEditor("clean", server, ui());
    assert.equal(mock.messages[0].level, "error");
    assert.match(mock.messages[0].text, /Clean Up failed: Request workspace\/executeCommand failed\./);
  });
});

describe("fixAndVerifyOnEditor", () => {
  beforeEach(() => mock.reset());

  const passed = "verified: `pytest -x -q tests/test_stats.py` passed (attempt 2 of 3)";

  test("at the cursor: freescode.fixVerified with a fix's arguments, and the verdict in the status bar", async () => {
    editorAt(4, 7, 4, 7);
    const server = new FakeServer();
    server.answer = { applied: true, message: passed, model: "code-llama-7b", edits: 1 };
    const out = ui();
    await fixAndVerifyOnEditor(server, out);
    assert.deepEqual(server.verified, [{ uri: "file:///p/stats.py", task: "fix", line: 4, endLine: 4, endCharacter: 0, version: 12 }]);
    assert.deepEqual(server.requests, [], "not the plain fix");
    assert.deepEqual(mock.statusMessages, [`Free-S_Code: ${passed}`]);
    assert.deepEqual(out.output.lines, [`Free-S_Code: ${passed}`]);
    assert.deepEqual(mock.messages, []);
  });

  test("on a selection: its lines; none passed: a line in the output only, the server has shown why", async () => {
    editorAt(2, 0, 9, 3);
    const server = new FakeServer();
    server.answer = { applied: false, message: "not verified: no candidate passed `pytest` in 3 attempts", edits: 0 };
    const out = ui();
    await fixAndVerifyOnEditor(server, out);
    assert.deepEqual(server.verified[0], { uri: "file:///p/stats.py", task: "fix", line: 2, endLine: 9, endCharacter: 3, version: 12 });
    assert.deepEqual(out.output.lines, ["Fix and Verify: not verified: no candidate passed `pytest` in 3 attempts"]);
    assert.deepEqual(mock.messages, []);
    assert.deepEqual(mock.statusMessages, []);
  });

  test("no editor: a warning naming the command; a failed request: an error", async () => {
    const server = new FakeServer();
    await fixAndVerifyOnEditor(server, ui());
    assert.match(mock.messages[0].text, /Fix and Verify works on the active editor/);
    editorAt(1, 0, 1, 0);
    server.answer = new Error("Request workspace/executeCommand failed.");
    await fixAndVerifyOnEditor(server, ui());
    assert.equal(mock.messages[1].level, "error");
    assert.match(mock.messages[1].text, /Fix and Verify failed: Request workspace\/executeCommand failed\./);
  });
});

describe("showCliReport", () => {
  beforeEach(() => mock.reset());

  const settings: ClientSettings = {
    serverCommand: "/v/bin/freescode-lsp",
    serverArgs: [],
    cliCommand: "",
    cliArgs: [],
    languages: ["python"],
  };
  const environment: Environment = { platform: "linux", env: {}, home: "/h", workspaceFolder: "/w", isExecutableFile: () => true };

  test("network status runs `freescode models --json` next to the server, in the workspace, and shows the table", async () => {
    const calls: unknown[][] = [];
    const run = (command: string, args: readonly string[], options: { cwd?: string }): Promise<CliResult> => {
      calls.push([command, args, options]);
      return Promise.resolve({ code: 0, stdout: JSON.stringify([{ id: "mistral-7b", context: 32768, price_per_1k: 0.0008, specialties: [], available: "none" }]), stderr: "" });
    };
    const output = createOutputChannel();
    const report = await showCliReport("models", settings, environment, run, output as unknown as vscode.OutputChannel);
    assert.deepEqual(calls, [["/v/bin/freescode", ["models", "--json"], { cwd: "/w" }]]);
    assert.ok(report.ok);
    assert.ok(output.lines.some((line) => /mistral-7b\s+32,768\s+\$0\.0008\s+none/.test(line)));
    assert.equal(output.shown, 1);
  });

  test("usage on a CLI without it: an error message that says what to do", async () => {
    const run = (): Promise<CliResult> =>
      Promise.resolve({ code: 2, stdout: "", stderr: "freescode: error: argument COMMAND: invalid choice: 'usage' (choose from 'run', 'models')" });
    const output = createOutputChannel();
    const report = await showCliReport("usage", { ...settings, cliCommand: "/opt/freescode", cliArgs: ["--x"] }, environment, run, output as unknown as vscode.OutputChannel);
    assert.ok(!report.ok);
    assert.equal(mock.messages[0].level, "error");
    assert.match(mock.messages[0].text, /no "usage" command yet/);
  });
});
