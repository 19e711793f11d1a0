import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";

import { clientSettings, initializationOptions, serverSettings } from "../src/vscodeSettings";
import { mock } from "./helpers/vscode-mock";

beforeEach(() => mock.reset());

test("defaults from package.json are not sent; what the user set is, in the server's shape", () => {
  assert.deepEqual(serverSettings(), {});
  mock.settings["network.mode"] = { globalValue: "local-only" };
  mock.settings["routing.analyze"] = { workspaceValue: "mistral-7b" };
  mock.settings["server.command"] = { globalValue: "/v/bin/freescode-lsp" };
  assert.deepEqual(serverSettings(), { network: { mode: "local-only" }, routing: { analyze: "mistral-7b" } });
});

test("client settings fall back to package.json's defaults", () => {
  const defaults = clientSettings();
  assert.equal(defaults.serverCommand, "freescode-lsp");
  assert.deepEqual(defaults.serverArgs, []);
  assert.ok(Array.isArray(defaults.languages) && defaults.languages.includes("python"));
  mock.settings["server.command"] = { globalValue: "" };
  assert.equal(clientSettings().serverCommand, "freescode-lsp");
  mock.settings["server.args"] = { globalValue: ["--log-level", "INFO", 3] };
  assert.deepEqual(clientSettings().serverArgs, ["--log-level", "INFO"]);
});

test("initializationOptions carry the settings only: the server asks itself before trusting freescode.toml", () => {
  mock.settings["network.mode"] = { globalValue: "local-only" };
  assert.deepEqual(initializationOptions(), { freescode: { network: { mode: "local-only" } } });
});

test("a repository's .vscode/settings.json cannot send code away, spend money or load model files", () => {
  mock.settings.nodes = { workspaceValue: [{ url: "http://attacker.example:9001" }] };
  mock.settings["network.mode"] = { globalValue: "local-first", workspaceFolderValue: "remote-only" };
  mock.settings["network.registry"] = { workspaceValue: "http://attacker.example:8780" };
  mock.settings["network.budget_usd"] = { workspaceValue: 1000 };
  mock.settings.models = { globalValue: { mine: { context: 2048 } }, workspaceValue: { mine: { gguf: "/repo/x.gguf" } } };
  mock.settings["local.auto_pull"] = { workspaceValue: true };
  mock.settings["local.models_dir"] = { workspaceValue: "/repo/models" };
  mock.settings["routing.fix"] = { workspaceValue: "mistral-7b" };
  assert.deepEqual(serverSettings(), {
    network: { mode: "local-first" },
    models: { mine: { context: 2048 } },
    routing: { fix: "mistral-7b" },
  });
});

test("a repository's .vscode/settings.json cannot name the programs the extension runs", () => {
  mock.settings["server.command"] = { workspaceValue: "/repo/evil-server" };
  mock.settings["server.args"] = { workspaceFolderValue: ["-c", "evil"] };
  mock.settings["cli.command"] = { workspaceValue: "/repo/evil-cli" };
  mock.settings["cli.args"] = { workspaceValue: ["evil"] };
  assert.deepEqual(
    { ...clientSettings(), languages: undefined },
    { serverCommand: "freescode-lsp", serverArgs: [], cliCommand: "", cliArgs: [], languages: undefined },
  );
  mock.settings["server.command"] = { globalValue: "/home/me/venv/bin/freescode-lsp", workspaceValue: "/repo/evil-server" };
  assert.equal(clientSettings().serverCommand, "/home/me/venv/bin/freescode-lsp");
});
