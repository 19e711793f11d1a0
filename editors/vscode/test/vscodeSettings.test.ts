import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";

import { clientSettings, initializationOptions, serverSettings } from "../src/vscodeSettings";
import { mock, workspace } from "./helpers/vscode-mock";

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

test("initializationOptions carry the settings and VS Code's trust in the workspace", () => {
  mock.settings["network.mode"] = { globalValue: "local-only" };
  assert.deepEqual(initializationOptions(), { freescode: { network: { mode: "local-only" } }, workspaceTrusted: true });
  workspace.isTrusted = false;
  try {
    assert.equal(initializationOptions().workspaceTrusted, false);
  } finally {
    workspace.isTrusted = true;
  }
});
