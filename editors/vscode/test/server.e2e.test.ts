/**
 * The extension's side of the protocol against the real freescode-lsp of this repository: the settings
 * it builds are accepted as they are, a bad one is named by the server, `freescode.runTask` answers
 * what tasks.ts reads, and `freescode/status` feeds the status bar. The model is the repository's
 * scripted OpenAI-compatible stub node (freescode_lsp/testing/stub_node.py), named in the `nodes` setting, so the
 * answer is instant and priced. Skipped outside the repository.
 */

import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, describe, test } from "node:test";

import {
  createProtocolConnection,
  DidChangeConfigurationNotification,
  DidOpenTextDocumentNotification,
  ExecuteCommandRequest,
  ExitNotification,
  InitializedNotification,
  InitializeRequest,
  ShutdownRequest,
  StreamMessageReader,
  StreamMessageWriter,
  type ProtocolConnection,
} from "vscode-languageserver-protocol/node";

import { answerConfiguration, buildServerSettings, type Inspected } from "../src/settings";
import { applyStatus, initialStatus, renderStatus, withServerState, type StatusPayload } from "../src/status";
import { outcomeOf, RUN_TASK_COMMAND, runTaskArgs } from "../src/tasks";
import { repositoryRoot } from "./helpers/paths";

const server = path.join(repositoryRoot, ".venv", "bin", "freescode-lsp");
const python = path.join(repositoryRoot, ".venv", "bin", "python");
const stubNode = path.join(repositoryRoot, "freescode_lsp", "testing", "stub_node.py");
const skip = fs.existsSync(server) && fs.existsSync(stubNode) ? false : "no .venv/bin/freescode-lsp or freescode_lsp/testing/stub_node.py in the repository";

const SOURCE = 'import math\n\n\ndef area(radius):\n    """Area of a circle."""\n    result = math.pi * radius\n    return result\n';
const EXPLANATION = ["Computes ", "the **area** ", "of a circle."];

function userSettings(nodeUrl: string): Record<string, Inspected> {
  return {
    "routing.analyze": { globalValue: "deepseek-coder-6.7b" },
    "network.mode": { globalValue: "remote-only" },
    nodes: { globalValue: [{ url: nodeUrl, models: ["deepseek-coder-6.7b"], price_per_1k: 0.5, name: "stub", api_key: null }] },
    "server.diagnostics_enabled": { globalValue: false },
    "server.hover_enabled": { workspaceValue: false },
    "server.command": { globalValue: "/not/sent" },
    "routing.fix": { globalValue: "" },
  };
}

/** Starts freescode_lsp/testing/stub_node.py and resolves its URL once it prints `PORT n`. */
function startStubNode(scriptFile: string): Promise<{ process: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, ["-m", "freescode_lsp.testing.stub_node", "--port", "0", "--script", scriptFile], { stdio: ["ignore", "pipe", "inherit"] });
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`the stub node did not start: ${seen}`)), 30_000);
    child.stdout?.on("data", (data: Buffer) => {
      seen += data.toString();
      const port = /PORT (\d+)/.exec(seen);
      if (port) {
        clearTimeout(timer);
        resolve({ process: child, url: `http://127.0.0.1:${port[1]}` });
      }
    });
    child.on("exit", (code) => reject(new Error(`the stub node exited (${code}): ${seen}`)));
  });
}

function waitFor<T>(items: T[], predicate: (item: T) => boolean, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = (): void => {
      const found = items.find(predicate);
      if (found !== undefined) {
        resolve(found);
      } else if (Date.now() - started > timeoutMs) {
        reject(new Error(`timed out; saw ${JSON.stringify(items)}`));
      } else {
        setTimeout(poll, 50);
      }
    };
    poll();
  });
}

describe("against the real freescode-lsp", { skip, timeout: 180_000 }, () => {
  let child: ChildProcess;
  let node: ChildProcess | undefined;
  let connection: ProtocolConnection;
  let workspace: string;
  let inspected: Record<string, Inspected>;
  let settings: Record<string, unknown>;
  const messages: string[] = [];
  const statuses: StatusPayload[] = [];
  const pulls: unknown[] = [];

  before(async () => {
    workspace = fs.mkdtempSync(path.join(os.tmpdir(), "freescode-vscode-e2e-"));
    const script = path.join(workspace, "script.json");
    fs.writeFileSync(script, JSON.stringify({ models: ["deepseek-coder-6.7b"], default: { chunks: EXPLANATION } }));
    const stub = await startStubNode(script);
    node = stub.process;
    inspected = userSettings(stub.url);
    settings = buildServerSettings((key) => inspected[key]);
    // The stub node is on loopback: never reach it through a proxy named in the environment.
    const noProxy = ["127.0.0.1", "localhost", process.env.NO_PROXY ?? process.env.no_proxy ?? ""].filter(Boolean).join(",");
    const env: NodeJS.ProcessEnv = { ...process.env, XDG_CONFIG_HOME: path.join(workspace, "config"), NO_PROXY: noProxy, no_proxy: noProxy };
    delete env.FREESCODE_CONFIG;
    child = spawn(server, [], { cwd: workspace, env, stdio: ["pipe", "pipe", "inherit"] });
    assert.ok(child.stdout && child.stdin);
    connection = createProtocolConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));
    connection.onRequest("workspace/configuration", (params: { items: { section?: string }[] }) => {
      const answer = answerConfiguration(params.items, "freescode", () => settings, []);
      pulls.push(answer);
      return answer;
    });
    connection.onRequest("window/workDoneProgress/create", () => null);
    connection.onRequest("client/registerCapability", () => null);
    connection.onNotification("window/showMessage", (params: { message: string }) => {
      messages.push(params.message);
    });
    connection.onNotification("freescode/status", (params: StatusPayload) => {
      statuses.push(params);
    });
    connection.listen();
    const folder = pathToFileURL(workspace).href;
    await connection.sendRequest(InitializeRequest.type, {
      processId: process.pid,
      clientInfo: { name: "Visual Studio Code", version: "1.82.0" },
      rootUri: folder,
      workspaceFolders: [{ uri: folder, name: "w" }],
      initializationOptions: settings,
      capabilities: {
        workspace: { configuration: true, applyEdit: true, workspaceEdit: { documentChanges: true }, didChangeConfiguration: { dynamicRegistration: true } },
        window: { workDoneProgress: true, showMessage: {} },
        textDocument: { synchronization: { didSave: true }, publishDiagnostics: {} },
      },
    });
    await connection.sendNotification(InitializedNotification.type, {});
  });

  after(async () => {
    if (connection !== undefined) {
      await connection.sendRequest(ShutdownRequest.type).catch(() => undefined);
      await connection.sendNotification(ExitNotification.type).catch(() => undefined);
      connection.dispose();
    }
    child?.kill();
    node?.kill();
    if (workspace !== undefined) {
      fs.rmSync(workspace, { recursive: true, force: true });
    }
  });

  test("the settings the extension builds are the server's shape: no problem reported", async () => {
    const nodeUrl = (inspected.nodes.globalValue as { url: string }[])[0].url;
    assert.deepEqual(settings, {
      routing: { analyze: "deepseek-coder-6.7b" },
      network: { mode: "remote-only" },
      nodes: [{ url: nodeUrl, models: ["deepseek-coder-6.7b"], price_per_1k: 0.5, name: "stub" }],
      server: { diagnostics_enabled: false, hover_enabled: false },
    });
    await waitFor(pulls, () => true, 10_000);
    assert.deepEqual(pulls[0], [settings]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(messages, []);
  });

  test("Explain through freescode.runTask: markdown back, status with model, node and cost", async () => {
    const uri = pathToFileURL(path.join(workspace, "area.py")).href;
    await connection.sendNotification(DidOpenTextDocumentNotification.type, {
      textDocument: { uri, languageId: "python", version: 1, text: SOURCE },
    });
    const args = runTaskArgs(uri, 1, "analyze", { start: { line: 5, character: 4 }, end: { line: 5, character: 4 } });
    const answer: unknown = await connection.sendRequest(ExecuteCommandRequest.type, { command: RUN_TASK_COMMAND, arguments: [args] });
    assert.deepEqual(outcomeOf("analyze", answer), { kind: "explain", markdown: EXPLANATION.join(""), model: "deepseek-coder-6.7b" });
    const final = await waitFor(statuses, (s) => s.state === "done" || s.state === "failed", 10_000);
    assert.equal(final.state, "done");
    assert.equal(final.task, "analyze");
    assert.equal(final.model, "deepseek-coder-6.7b");
    assert.ok(final.engine && final.engine !== "local", `engine ${final.engine}`);
    assert.ok((final.costUsd ?? 0) > 0, `cost ${final.costUsd}`);
    let model = withServerState(initialStatus(), "running");
    for (const status of statuses) {
      model = applyStatus(model, status);
    }
    assert.match(renderStatus(model).text, /^\$\(sparkle\) deepseek-coder-6\.7b · 127\.0\.0\.1:\d+( · [\d.]+ tok\/s)? · \$\d+\.\d+$/);
  });

  test("a bad value changed in VS Code is named by the server, which goes on", async () => {
    const bad = buildServerSettings((key) => ({ ...inspected, "network.mode": { globalValue: "sideways" } })[key]);
    await connection.sendNotification(DidChangeConfigurationNotification.type, { settings: { freescode: bad } });
    const message = await waitFor(messages, (m) => m.includes("network.mode"), 10_000);
    assert.match(message, /editor settings: network\.mode/);
    assert.match(message, /sideways/);
  });
});
