import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { cliCommandFor, expandCommand, findExecutable, notFoundMessage, type Environment } from "../src/executable";

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
