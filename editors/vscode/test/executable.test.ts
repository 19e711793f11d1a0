import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  cliCommandFor,
  expandCommand,
  findExecutable,
  notFoundMessage,
  remoteLabel,
  settingsPlace,
  type Environment,
} from "../src/executable";

function environment(files: string[], overrides: Partial<Environment> = {}): Environment {
  return {
    platform: "linux",
    env: { PATH: "/usr/local/bin:/home/me/.local/bin" },
    home: "/home/me",
    workspaceFolder: "/home/user/project",
    isExecutableFile: (file) => files.includes(file),
    ...overrides,
  };
}

describe("findExecutable", () => {
  test("a bare name is looked up on PATH, in order", () => {
    const env = environment(["/home/me/.local/bin/freescode-lsp"]);
    assert.equal(findExecutable("freescode-lsp", env), "/home/me/.local/bin/freescode-lsp");
    assert.equal(findExecutable("nothing-here", env), undefined);
  });

  test("a path is checked as it is; a relative one from the workspace folder", () => {
    const env = environment(["/home/user/project/.venv/bin/freescode-lsp"]);
    assert.equal(findExecutable("/home/user/project/.venv/bin/freescode-lsp", env), "/home/user/project/.venv/bin/freescode-lsp");
    assert.equal(findExecutable(".venv/bin/freescode-lsp", env), "/home/user/project/.venv/bin/freescode-lsp");
    assert.equal(findExecutable("/elsewhere/freescode-lsp", env), undefined);
  });

  test("Windows: PATHEXT extensions are tried", () => {
    const env = environment(["C:\\Python\\Scripts\\freescode-lsp.EXE"], {
      platform: "win32",
      env: { Path: "C:\\Windows;C:\\Python\\Scripts", PATHEXT: ".COM;.EXE" },
    });
    assert.equal(findExecutable("freescode-lsp", env), "C:\\Python\\Scripts\\freescode-lsp.EXE");
  });
});

describe("expandCommand", () => {
  const env = environment([]);
  test("empty means the default", () => {
    assert.equal(expandCommand("", "freescode-lsp", env), "freescode-lsp");
    assert.equal(expandCommand(undefined, "freescode-lsp", env), "freescode-lsp");
  });
  test("~, ${userHome} and ${workspaceFolder}", () => {
    assert.equal(expandCommand("~/.venv/bin/freescode-lsp", "x", env), "/home/me/.venv/bin/freescode-lsp");
    assert.equal(expandCommand("${userHome}/bin/f", "x", env), "/home/me/bin/f");
    assert.equal(expandCommand("${workspaceFolder}/.venv/bin/freescode-lsp", "x", env), "/home/user/project/.venv/bin/freescode-lsp");
  });
});

describe("cliCommandFor", () => {
  test("the setting wins", () => {
    assert.equal(cliCommandFor("/v/bin/freescode-lsp", " /opt/freescode ", "linux"), "/opt/freescode");
  });
  test("next to a server named by path", () => {
    assert.equal(cliCommandFor("/v/bin/freescode-lsp", "", "linux"), "/v/bin/freescode");
    assert.equal(cliCommandFor("C:\\v\\Scripts\\freescode-lsp.exe", "", "win32"), "C:\\v\\Scripts\\freescode.exe");
  });
  test("otherwise on PATH", () => {
    assert.equal(cliCommandFor("freescode-lsp", "", "linux"), "freescode");
    assert.equal(cliCommandFor("/usr/bin/python3", "", "linux"), "freescode");
  });
});

test("the not-found message gives the install command", () => {
  assert.match(notFoundMessage("freescode-lsp"), /pip install 'freescode-lsp\[local\]'/);
  assert.match(notFoundMessage("freescode-lsp"), /not found on PATH/);
  assert.match(notFoundMessage("/x/freescode-lsp"), /"\/x\/freescode-lsp" was not found/);
});

describe("where freescode.server.command is read", () => {
  test("a local window: the User settings (never a workspace's), opened at the setting", () => {
    const message = notFoundMessage("freescode-lsp", undefined);
    assert.match(message, /set "freescode\.server\.command" to its full path .* in your User settings\.$/);
    assert.doesNotMatch(message, /remote/i);
    assert.deepEqual(settingsPlace(undefined), {
      where: "in your User settings",
      button: "Open Settings",
      command: "workbench.action.openSettings",
      argument: "freescode.server.command",
    });
    assert.equal(settingsPlace("").button, "Open Settings");
  });

  test("a remote window: the Remote settings of that machine, never the User or Workspace settings", () => {
    const message = notFoundMessage("freescode-lsp", "ssh-remote");
    assert.match(message, /`freescode-lsp` was not found on PATH on the remote machine \(SSH\)\./);
    assert.match(message, /Install it there with: pip install 'freescode-lsp\[local\]'/);
    assert.match(message, /"freescode\.server\.command" .* in the Remote settings \(SSH\):/);
    assert.doesNotMatch(message, /Workspace/);
    assert.match(message, /your User settings are not read for it/);
    const place = settingsPlace("ssh-remote");
    assert.equal(place.button, "Open Remote Settings");
    assert.equal(place.command, "workbench.action.openRemoteSettings");
    assert.deepEqual(place.argument, { query: "freescode.server.command" });
    assert.match(notFoundMessage("/srv/venv/bin/freescode-lsp", "wsl"), /"\/srv\/venv\/bin\/freescode-lsp" was not found on the remote machine \(WSL\)/);
  });

  test("remote kinds are named as people say them; unknown ones as they are", () => {
    assert.deepEqual(
      ["ssh-remote", "wsl", "dev-container", "attached-container", "codespaces", "tunnel", "127.0.0.1:8080"].map(remoteLabel),
      ["SSH", "WSL", "Dev Container", "Dev Container", "Codespaces", "Tunnel", "127.0.0.1:8080"],
    );
  });
});
