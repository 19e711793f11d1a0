import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";

import {
  answerConfiguration,
  buildServerSettings,
  CLIENT_SETTINGS,
  deepMerge,
  documentSelectorFor,
  explicitValue,
  languageIds,
  RESTART_SETTINGS,
  SERVER_SETTINGS,
  USER_ONLY_SETTINGS,
  withoutNulls,
  type Inspected,
} from "../src/settings";
import { extensionRoot, repositoryRoot } from "./helpers/paths";

const inspectorOf =
  (values: Record<string, Inspected>) =>
  (key: string): Inspected | undefined =>
    values[key];

describe("buildServerSettings", () => {
  test("nothing set: an empty object, so freescode.toml and the server's defaults apply", () => {
    assert.deepEqual(buildServerSettings(inspectorOf({})), {});
  });

  test("dotted VS Code keys become the server's nested sections", () => {
    const settings = buildServerSettings(
      inspectorOf({
        "routing.fix": { globalValue: "mistral-7b" },
        "network.mode": { globalValue: "remote-first" },
        "network.budget_usd": { globalValue: 5 },
        "server.streaming": { globalValue: false },
        "server.hover_timeout_s": { globalValue: 3 },
        "local.threads": { globalValue: 8 },
      }),
    );
    assert.deepEqual(settings, {
      routing: { fix: "mistral-7b" },
      network: { mode: "remote-first", budget_usd: 5 },
      server: { streaming: false, hover_timeout_s: 3 },
      local: { threads: 8 },
    });
  });

  test("false and 0 are values, empty strings and null mean unset", () => {
    const settings = buildServerSettings(
      inspectorOf({
        "server.diagnostics_on_save": { globalValue: false },
        "server.diagnostics_idle_s": { globalValue: 0 },
        "routing.debug": { globalValue: "" },
        "network.registry": { globalValue: "   " },
        "network.max_price_per_1k": { globalValue: null },
      }),
    );
    assert.deepEqual(settings, { server: { diagnostics_on_save: false, diagnostics_idle_s: 0 } });
  });

  test("the most specific scope wins for plain values", () => {
    const settings = buildServerSettings(
      inspectorOf({ "routing.fix": { globalValue: "code-llama-7b", workspaceValue: "mistral-7b", workspaceFolderValue: "starcoder-15b" } }),
    );
    assert.deepEqual(settings, { routing: { fix: "starcoder-15b" } });
  });

  test("settings that send code away, spend money or name files and programs come from the user's settings only", () => {
    const settings = buildServerSettings(
      inspectorOf({
        "network.mode": { globalValue: "local-only", workspaceValue: "remote-first", workspaceFolderValue: "remote-only" },
        "network.registry": { workspaceValue: "http://r:1" },
        nodes: { workspaceFolderValue: [{ url: "http://b:2" }] },
        "local.models_dir": { workspaceValue: "/repo/models" },
      }),
    );
    assert.deepEqual(settings, { network: { mode: "local-only" } });
    assert.equal(explicitValue({ workspaceValue: "x" }, "scalar", true), undefined);
  });

  test("models and nodes lose null members", () => {
    const settings = buildServerSettings(
      inspectorOf({
        models: { globalValue: { "code-llama-7b": { gguf: "/m/a.gguf", context: 4096, threads: null }, mine: { hf: "o/r:f.gguf" } } },
        nodes: { globalValue: [{ url: "http://b:2", models: ["mistral-7b"], api_key: null }, null] },
      }),
    );
    assert.deepEqual(settings, {
      models: { "code-llama-7b": { gguf: "/m/a.gguf", context: 4096 }, mine: { hf: "o/r:f.gguf" } },
      nodes: [{ url: "http://b:2", models: ["mistral-7b"] }],
    });
  });

  test("object settings merge across scopes", () => {
    const merged = explicitValue(
      { globalValue: { a: { b: 1, c: 2 } }, workspaceValue: { a: { c: 3 } }, workspaceFolderValue: { d: 4 } },
      "object",
    );
    assert.deepEqual(merged, { a: { b: 1, c: 3 }, d: 4 });
  });

  test("an explicitly empty nodes list is sent (it clears freescode.toml's nodes), an empty models object is not", () => {
    const settings = buildServerSettings(inspectorOf({ nodes: { globalValue: [] }, models: { globalValue: {} } }));
    assert.deepEqual(settings, { nodes: [] });
  });

  test("wrong types are passed on for the server to report in plain words", () => {
    const settings = buildServerSettings(inspectorOf({ "local.threads": { globalValue: "four" } }));
    assert.deepEqual(settings, { local: { threads: "four" } });
  });

  test("client-only settings are never sent", () => {
    const seen: string[] = [];
    buildServerSettings((key) => {
      seen.push(key);
      return { globalValue: "x" };
    });
    for (const key of CLIENT_SETTINGS) {
      assert.ok(!seen.includes(key), key);
    }
  });
});

describe("helpers", () => {
  test("deepMerge merges objects and replaces the rest", () => {
    assert.deepEqual(deepMerge({ a: { b: 1, c: [1] } }, { a: { c: [2], d: 3 } }), { a: { b: 1, c: [2], d: 3 } });
    assert.deepEqual(deepMerge({ a: 1 }, [1]), [1]);
  });

  test("withoutNulls drops null at any depth", () => {
    assert.deepEqual(withoutNulls({ a: null, b: [1, null, { c: null, d: 2 }] }), { b: [1, { d: 2 }] });
  });

  test("explicitValue: undefined when only the default exists", () => {
    assert.equal(explicitValue(undefined, "scalar"), undefined);
    assert.equal(explicitValue({}, "scalar"), undefined);
    assert.equal(explicitValue({ globalValue: false }, "scalar"), false);
  });

  test("answerConfiguration answers our section and keeps VS Code's answer for others", () => {
    const answer = answerConfiguration(
      [{ section: "freescode" }, { section: "editor" }, { section: "freescode", scopeUri: "file:///w" }],
      "freescode",
      (scope) => ({ scope: scope ?? null }),
      [null, { tabSize: 4 }, null],
    );
    assert.deepEqual(answer, [{ scope: null }, { tabSize: 4 }, { scope: "file:///w" }]);
  });

  test("documentSelectorFor: files and unsaved buffers, blanks and repeats dropped", () => {
    assert.deepEqual(documentSelectorFor(["python", " python ", "", 3, "rust"]), [
      { scheme: "file", language: "python" },
      { scheme: "untitled", language: "python" },
      { scheme: "file", language: "rust" },
      { scheme: "untitled", language: "rust" },
    ]);
    assert.deepEqual(documentSelectorFor("python"), []);
    assert.deepEqual(languageIds(undefined), []);
  });
});

interface Property {
  default?: unknown;
  type?: string | string[];
  enum?: unknown[];
  properties?: Record<string, unknown>;
  items?: Property;
  additionalProperties?: Property | boolean;
  scope?: string;
}

function contributed(): Record<string, Property> {
  const pkg = JSON.parse(fs.readFileSync(path.join(extensionRoot, "package.json"), "utf8")) as {
    contributes: { configuration: { properties: Record<string, Property> }[] };
  };
  return Object.assign({}, ...pkg.contributes.configuration.map((group) => group.properties)) as Record<string, Property>;
}

describe("package.json contributes.configuration", () => {
  const properties = contributed();
  const keys = Object.keys(properties).map((key) => key.replace(/^freescode\./, ""));

  test("declares exactly the server settings and the client settings", () => {
    const expected = [...SERVER_SETTINGS.map((spec) => spec.key), ...CLIENT_SETTINGS].sort();
    assert.deepEqual([...keys].sort(), expected);
  });

  test("restart settings are client settings", () => {
    for (const key of RESTART_SETTINGS) {
      assert.ok(CLIENT_SETTINGS.includes(key), key);
    }
  });

  test("the user-only settings are machine or application scoped, so a workspace cannot set them; no other is", () => {
    for (const key of keys) {
      const scope = properties[`freescode.${key}`].scope;
      const userOnly = scope === "machine" || scope === "application";
      assert.equal(userOnly, USER_ONLY_SETTINGS.includes(key), `freescode.${key} has scope ${String(scope)}`);
    }
  });

  test("every setting has a default and a description", () => {
    for (const [key, property] of Object.entries(properties)) {
      assert.ok("default" in property, `${key} has no default`);
      assert.ok("markdownDescription" in property || "description" in property, `${key} has no description`);
    }
  });
});

/** The fields of each attrs class in freescode_lsp/config.py, with their default's source text, read from its source. */
function serverFields(source: string): Record<string, Map<string, string | undefined>> {
  const classes: Record<string, Map<string, string | undefined>> = {};
  let current: string | undefined;
  for (const line of source.split("\n")) {
    const header = /^class (\w+):/.exec(line);
    if (header) {
      current = header[1];
      classes[current] = new Map();
      continue;
    }
    if (/^\S/.test(line)) {
      current = undefined;
    }
    const field = /^ {4}(\w+): [^=]+(?:= (.+))?$/.exec(line);
    if (current !== undefined && field) {
      classes[current].set(field[1], field[2]?.trim());
    }
  }
  return classes;
}

/** The VS Code keys of the server's GUARDED key paths in freescode_lsp/trust.py (models."id".gguf is `models`). */
function guardedKeys(source: string): string[] {
  const block = /^GUARDED[^=]*= \(\n([\s\S]*?)\n\)/m.exec(source);
  const paths = [...(block?.[1] ?? "").matchAll(/\(([^()]*)\)/g)].map((entry) =>
    [...entry[1].matchAll(/"([^"]*)"/g)].map((part) => part[1]),
  );
  return paths.map((parts) => (parts[0] === "nodes" || parts[0] === "models" ? parts[0] : parts.slice(0, 2).join(".")));
}

function pythonLiteral(text: string): unknown {
  const typed = /^[A-Z]\w*\((.*)\)$/.exec(text); // a NewType's default, e.g. Seconds(600.0)
  if (typed) {
    return pythonLiteral(typed[1]);
  }
  if (text === "True" || text === "False") {
    return text === "True";
  }
  if (text === "None") {
    return null;
  }
  if (text === "field(factory=list)") {
    return [];
  }
  return JSON.parse(/^[\d_.]+$/.test(text) ? text.replace(/_/g, "") : text) as unknown;
}

describe("the server's schema (freescode_lsp/config.py)", () => {
  const configPath = path.join(repositoryRoot, "freescode_lsp", "config.py");
  const available = fs.existsSync(configPath);
  const fields = available ? serverFields(fs.readFileSync(configPath, "utf8")) : {};
  const properties = contributed();
  const opts = { skip: available ? false : "not inside the freescode-lsp repository" };

  test("sections and their keys match the server's settings classes", opts, () => {
    assert.deepEqual([...fields.Settings.keys()], ["routing", "models", "local", "nodes", "network", "server", "completion"]);
    for (const [section, cls] of [
      ["local", "LocalSettings"],
      ["network", "NetworkSettings"],
      ["server", "ServerSettings"],
      ["completion", "CompletionSettings"],
    ] as const) {
      const ours = SERVER_SETTINGS.filter((spec) => spec.path[0] === section).map((spec) => spec.path[1]);
      assert.deepEqual([...ours].sort(), [...fields[cls].keys()].sort(), section);
    }
  });

  test("the JSON schemas of models and nodes list the server's fields", opts, () => {
    const model = properties["freescode.models"].additionalProperties as Property;
    assert.deepEqual(Object.keys(model.properties ?? {}).sort(), [...fields.ModelSettings.keys()].sort());
    const node = properties["freescode.nodes"].items as Property;
    assert.deepEqual(Object.keys(node.properties ?? {}).sort(), [...fields.NodeSettings.keys()].sort());
  });

  test("every key the server guards in a workspace's freescode.toml is a user-only setting here", opts, () => {
    const trustSource = fs.readFileSync(path.join(repositoryRoot, "freescode_lsp", "trust.py"), "utf8");
    const guarded = guardedKeys(trustSource);
    assert.ok(guarded.length >= 10, `found ${guarded.join(", ")}`);
    for (const key of guarded) {
      assert.ok(USER_ONLY_SETTINGS.includes(key), `${key} is guarded by the server but a workspace may set it in VS Code`);
    }
  });

  test("defaults shown in VS Code are the server's defaults", opts, () => {
    const classes: Record<string, string> = {
      local: "LocalSettings",
      network: "NetworkSettings",
      server: "ServerSettings",
      completion: "CompletionSettings",
    };
    for (const spec of SERVER_SETTINGS.filter((s) => s.path[0] in classes)) {
      const python = fields[classes[spec.path[0]]].get(spec.path[1]);
      const expected = python === undefined ? undefined : pythonLiteral(python);
      const shown = properties[`freescode.${spec.key}`].default;
      assert.deepEqual(shown === "" ? null : shown, expected, spec.key);
    }
  });
});
