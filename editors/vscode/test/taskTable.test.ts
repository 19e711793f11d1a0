/** The extension's copies of the task table against the server's own: `freescode tasks --json`. */

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";

import { ROUTED_TASKS } from "../src/settings";
import { TASK_VERBS } from "../src/status";
import { RUN_TASK_COMMAND, TASK_COMMANDS } from "../src/tasks";
import { extensionRoot, repositoryRoot } from "./helpers/paths";

interface ServerTask {
  id: string;
  title: string;
  kind: string | null;
  produces: string;
  default_model: string;
  runnable: boolean;
  commands: { vscode: { command: string; title: string }; neovim: string } | null;
}

interface TaskTable {
  command: string;
  tasks: ServerTask[];
}

interface Manifest {
  contributes: {
    commands: { command: string; title: string }[];
    menus: Record<string, { command?: string }[]>;
    configuration: { properties: Record<string, { default?: unknown; markdownDescription?: string }> }[];
  };
}

const cli = path.join(repositoryRoot, ".venv", "bin", "freescode");
const available = fs.existsSync(cli);
const opts = { skip: available ? false : `no ${cli}: run \`make install\` in the repository` };
const table: TaskTable = available
  ? (JSON.parse(execFileSync(cli, ["tasks", "--json"], { encoding: "utf8", timeout: 60_000 })) as TaskTable)
  : { command: "", tasks: [] };
const manifest = JSON.parse(fs.readFileSync(path.join(extensionRoot, "package.json"), "utf8")) as Manifest;
const withCommands = table.tasks.filter((task) => task.commands !== null);

describe("the extension's task lists match `freescode tasks --json`", () => {
  test("the palette commands: same tasks, order, command ids and titles", opts, () => {
    assert.ok(withCommands.length > 0, "the server lists no task with an editor command");
    assert.deepEqual(
      TASK_COMMANDS.map((entry) => [entry.task, entry.command, entry.title]),
      withCommands.map((task) => [task.id, task.commands?.vscode.command, task.commands?.vscode.title]),
    );
    assert.equal(RUN_TASK_COMMAND, table.command);
  });

  test("every palette task is one the server runs", opts, () => {
    for (const entry of TASK_COMMANDS) {
      assert.equal(table.tasks.find((task) => task.id === entry.task)?.runnable, true, entry.task);
    }
  });

  test("the status bar names each task as the server does", opts, () => {
    assert.deepEqual(TASK_VERBS, Object.fromEntries(table.tasks.map((task) => [task.id, task.title])));
  });

  test("routing settings cover every task, each naming its default model", opts, () => {
    assert.deepEqual([...ROUTED_TASKS].sort(), table.tasks.map((task) => task.id).sort());
    const properties = Object.assign({}, ...manifest.contributes.configuration.map((group) => group.properties)) as Record<
      string,
      { markdownDescription?: string }
    >;
    for (const task of table.tasks) {
      const description = properties[`freescode.routing.${task.id}`]?.markdownDescription ?? "";
      assert.ok(description.endsWith(`else \`${task.default_model}\`.`), `freescode.routing.${task.id}: ${description}`);
    }
  });

  test("package.json contributes each task command with its title, in the context menu and the palette", opts, () => {
    const contributed = new Map(manifest.contributes.commands.map((entry) => [entry.command, entry.title]));
    const inMenu = (menu: string) => (manifest.contributes.menus[menu] ?? []).map((entry) => entry.command);
    for (const task of withCommands) {
      const command = task.commands?.vscode.command ?? "";
      assert.equal(contributed.get(command), task.commands?.vscode.title, command);
    }
    const commands = withCommands.map((task) => task.commands?.vscode.command);
    for (const menu of ["freescode.editorContext", "commandPalette"]) {
      assert.deepEqual(
        inMenu(menu).filter((command) => commands.includes(command)),
        commands,
        menu,
      );
    }
  });
});
