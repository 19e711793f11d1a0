import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";

import type * as vscode from "vscode";

import { activate, deactivate } from "../src/extension";
import { TASK_COMMANDS } from "../src/tasks";
import { extensionRoot } from "./helpers/paths";
import { mock } from "./helpers/vscode-mock";

interface Manifest {
  activationEvents: string[];
  contributes: {
    commands: { command: string; title: string; category: string }[];
    menus: Record<string, { command?: string; submenu?: string }[]>;
    submenus: { id: string }[];
    configuration: { properties: Record<string, { default?: unknown }> }[];
  };
}

const manifest = JSON.parse(fs.readFileSync(path.join(extensionRoot, "package.json"), "utf8")) as Manifest;
const contributedCommands = manifest.contributes.commands.map((entry) => entry.command);

async function eventually(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 100 && !check(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.ok(check(), what);
}

test("activation registers every contributed command; a missing server says how to install it", async () => {
  mock.reset();
  mock.settings["server.command"] = { globalValue: "/nonexistent/freescode-lsp" };
  mock.choice = "Copy Install Command";
  const context = { subscriptions: [] as { dispose(): void }[] };
  await activate(context as unknown as vscode.ExtensionContext);

  assert.deepEqual([...mock.registered.keys()].sort(), [...contributedCommands].sort());
  await eventually(() => mock.messages.length > 0, "no message about the missing server");
  assert.equal(mock.messages[0].level, "error");
  assert.match(mock.messages[0].text, /"\/nonexistent\/freescode-lsp" was not found/);
  assert.match(mock.messages[0].text, /pip install 'freescode-lsp\[local\]'/);
  assert.deepEqual(mock.messages[0].items, ["Open Settings", "Copy Install Command"]);
  await eventually(() => mock.clipboard !== "", "the install command was not copied");
  assert.equal(mock.clipboard, "pip install 'freescode-lsp[local]'");
  const languages = mock.executed.find((call) => call.command === "setContext");
  assert.deepEqual(languages?.args[0], "freescode.languages");

  mock.messages = [];
  await mock.registered.get("freescode.fix")?.();
  assert.match(mock.messages[0].text, /open a file first/);

  await deactivate();
  for (const disposable of context.subscriptions) {
    disposable.dispose();
  }
});

test("in a remote window the missing-server message points at the Remote settings and opens them", async () => {
  mock.reset();
  mock.remoteName = "ssh-remote";
  mock.settings["server.command"] = { globalValue: "/nonexistent/freescode-lsp" };
  mock.choice = "Open Remote Settings";
  const context = { subscriptions: [] as { dispose(): void }[] };
  await activate(context as unknown as vscode.ExtensionContext);

  await eventually(() => mock.messages.length > 0, "no message about the missing server");
  const [message] = mock.messages;
  assert.match(message.text, /"\/nonexistent\/freescode-lsp" was not found on the remote machine \(SSH\)/);
  assert.match(message.text, /"freescode\.server\.command" .* in the Remote settings \(SSH\):/);
  assert.deepEqual(message.items, ["Open Remote Settings", "Copy Install Command"]);
  const opened = () => mock.executed.find((call) => call.command === "workbench.action.openRemoteSettings");
  await eventually(() => opened() !== undefined, "the Remote settings were not opened");
  assert.deepEqual(opened()?.args, [{ query: "freescode.server.command" }]);

  await deactivate();
  for (const disposable of context.subscriptions) {
    disposable.dispose();
  }
});

test("in a local window Open Settings opens the User settings at freescode.server.command", async () => {
  mock.reset();
  mock.settings["server.command"] = { globalValue: "/nonexistent/freescode-lsp" };
  mock.choice = "Open Settings";
  const context = { subscriptions: [] as { dispose(): void }[] };
  await activate(context as unknown as vscode.ExtensionContext);

  await eventually(() => mock.messages.length > 0, "no message about the missing server");
  assert.match(mock.messages[0].text, /in your User settings\.$/);
  const opened = () => mock.executed.find((call) => call.command === "workbench.action.openSettings");
  await eventually(() => opened() !== undefined, "the settings were not opened");
  assert.deepEqual(opened()?.args, ["freescode.server.command"]);

  await deactivate();
  for (const disposable of context.subscriptions) {
    disposable.dispose();
  }
});

test("package.json: palette titles, menus and activation events agree with the code", () => {
  for (const { command, title } of TASK_COMMANDS) {
    const entry = manifest.contributes.commands.find((c) => c.command === command);
    assert.ok(entry, command);
    assert.equal(entry.title, title);
    assert.equal(entry.category, "Free-S_Code");
  }
  const submenus = new Set(manifest.contributes.submenus.map((s) => s.id));
  for (const [menu, entries] of Object.entries(manifest.contributes.menus)) {
    for (const entry of entries) {
      assert.ok(entry.command === undefined || contributedCommands.includes(entry.command), `${menu}: ${entry.command}`);
      assert.ok(entry.submenu === undefined || submenus.has(entry.submenu), `${menu}: ${entry.submenu}`);
    }
  }
  const languages = manifest.contributes.configuration.flatMap((group) => Object.entries(group.properties)).find(
    ([key]) => key === "freescode.languages",
  )?.[1].default as string[];
  const onLanguage = manifest.activationEvents.filter((event) => event.startsWith("onLanguage:")).map((event) => event.slice(11));
  assert.deepEqual(onLanguage, languages);
});
