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
import { cliJson, needsCli } from "./helpers/cli";
import { extensionRoot } from "./helpers/paths";

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

/** A JSON Schema as package.json's settings and `freescode settings --json-schema` write it (the keywords read here). */
interface Schema {
  type?: string | string[];
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  required?: string[];
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  propertyNames?: { enum?: string[] };
  scope?: string;
  "x-freescode-user-only"?: boolean;
}

const BOUNDS = ["minimum", "maximum", "exclusiveMinimum"] as const;
const USER_SCOPES = ["machine", "application"];

function contributed(): Record<string, Schema> {
  const pkg = JSON.parse(fs.readFileSync(path.join(extensionRoot, "package.json"), "utf8")) as {
    contributes: { configuration: { properties: Record<string, Schema> }[] };
  };
  return Object.assign({}, ...pkg.contributes.configuration.map((group) => group.properties)) as Record<string, Schema>;
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
      const userOnly = USER_SCOPES.includes(scope ?? "");
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

const typesOf = (schema: Schema): string[] => (Array.isArray(schema.type) ? schema.type : schema.type === undefined ? [] : [schema.type]);
const withoutNull = (values: readonly unknown[] | undefined): unknown[] => (values ?? []).filter((value) => value !== null);
const isSchema = (value: Schema | boolean | undefined): value is Schema => typeof value === "object";

/** The server's schema of the value at a key path: a table's own key, else what any key of the table takes. */
function serverSchemaAt(schema: Schema, parts: readonly string[]): Schema | undefined {
  let node: Schema | undefined = schema;
  for (const part of parts) {
    const any: Schema | boolean | undefined = node?.additionalProperties;
    node = node?.properties?.[part] ?? (isSchema(any) ? any : undefined);
  }
  return node;
}

/** The VS Code keys the server's settings call for: one per field of a section, per allowed key of a table, else the whole value. */
function expectedKeys(schema: Schema): string[] {
  return Object.entries(schema.properties ?? {}).flatMap(([name, section]) => {
    const inner = section.properties ? Object.keys(section.properties) : (section.propertyNames?.enum ?? []);
    return inner.length > 0 ? inner.map((key) => `${name}.${key}`) : [name];
  });
}

/** Each key path the server marks user-only, `*` standing for any key of a table. */
function userOnlyPaths(schema: Schema, at: string[] = []): string[][] {
  const here = schema["x-freescode-user-only"] === true ? [at] : [];
  const inner = Object.entries(schema.properties ?? {}).flatMap(([name, child]) => userOnlyPaths(child, [...at, name]));
  const any = isSchema(schema.additionalProperties) ? userOnlyPaths(schema.additionalProperties, [...at, "*"]) : [];
  return [...here, ...inner, ...any];
}

/** Where VS Code's schema for a setting says something other than the server's: types, choices, stated bounds, nested keys. */
function differences(ours: Schema, theirs: Schema, where: string): string[] {
  const found: string[] = [];
  const [ourTypes, theirTypes] = [typesOf(ours), typesOf(theirs)];
  const valueTypes = (types: string[]) => JSON.stringify(types.filter((type) => type !== "null").sort());
  if (valueTypes(ourTypes) !== valueTypes(theirTypes) || (ourTypes.includes("null") && !theirTypes.includes("null"))) {
    found.push(`${where}: type ${JSON.stringify(ours.type)}, the server's is ${JSON.stringify(theirs.type)}`);
  }
  if ((ours.enum || theirs.enum) && JSON.stringify(withoutNull(ours.enum)) !== JSON.stringify(withoutNull(theirs.enum))) {
    found.push(`${where}: choices ${JSON.stringify(ours.enum)}, the server's are ${JSON.stringify(theirs.enum)}`);
  }
  for (const bound of BOUNDS.filter((name) => ours[name] !== undefined && ours[name] !== theirs[name])) {
    found.push(`${where}: ${bound} ${ours[bound]}, the server's is ${String(theirs[bound])}`);
  }
  if (JSON.stringify([...(ours.required ?? [])].sort()) !== JSON.stringify([...(theirs.required ?? [])].sort())) {
    found.push(`${where}: requires ${JSON.stringify(ours.required)}, the server ${JSON.stringify(theirs.required)}`);
  }
  if (theirs.properties) {
    const [ourKeys, theirKeys] = [Object.keys(ours.properties ?? {}).sort(), Object.keys(theirs.properties).sort()];
    if (JSON.stringify(ourKeys) !== JSON.stringify(theirKeys)) {
      found.push(`${where}: keys ${ourKeys.join(", ")}; the server's are ${theirKeys.join(", ")}`);
    }
    for (const key of theirKeys.filter((name) => ours.properties?.[name])) {
      found.push(...differences(ours.properties?.[key] ?? {}, theirs.properties[key], `${where}.${key}`));
    }
    if (theirs.additionalProperties === false && ours.additionalProperties !== false) {
      found.push(`${where}: takes keys the server refuses`);
    }
  }
  if (isSchema(theirs.additionalProperties)) {
    const ourAny = isSchema(ours.additionalProperties) ? ours.additionalProperties : {};
    found.push(...differences(ourAny, theirs.additionalProperties, `${where}.*`));
  }
  if (theirs.items) {
    found.push(...differences(ours.items ?? {}, theirs.items, `${where}[]`));
  }
  return found;
}

describe("the server's settings (`freescode settings --json-schema`)", () => {
  const schema = cliJson<Schema>(["settings", "--json-schema"], {});
  const properties = contributed();

  test("VS Code offers each server setting, under the server's name and path", needsCli, () => {
    assert.deepEqual(SERVER_SETTINGS.map((spec) => spec.key).sort(), expectedKeys(schema).sort());
    for (const spec of SERVER_SETTINGS) {
      assert.equal(spec.path.join("."), spec.key);
      const kind = typesOf(serverSchemaAt(schema, spec.path) ?? {});
      assert.equal(spec.kind, kind.includes("object") ? "object" : kind.includes("array") ? "list" : "scalar", spec.key);
    }
  });

  test("types, choices, stated bounds and nested keys are the server's", needsCli, () => {
    const found = SERVER_SETTINGS.flatMap((spec) =>
      differences(properties[`freescode.${spec.key}`], serverSchemaAt(schema, spec.path) ?? {}, spec.key),
    );
    assert.deepEqual(found, []);
  });

  test("defaults shown in VS Code are the server's defaults", needsCli, () => {
    for (const spec of SERVER_SETTINGS) {
      const expected = spec.path.reduce<unknown>((value, part) => (value as Record<string, unknown> | undefined)?.[part], schema.default);
      const shown = properties[`freescode.${spec.key}`].default;
      assert.deepEqual(shown === "" ? null : shown, expected ?? null, spec.key);
    }
  });

  test("every key the server takes from a workspace's freescode.toml only once trusted is a user-only setting here", needsCli, () => {
    const guarded = userOnlyPaths(schema);
    assert.ok(guarded.length > 0, "the server marks no key user-only");
    for (const parts of guarded) {
      const spec = SERVER_SETTINGS.find((each) => each.path.every((part, index) => parts[index] === part));
      const where = parts.join(".");
      assert.ok(spec, `${where} is guarded by the server but VS Code has no setting for it`);
      assert.ok(USER_ONLY_SETTINGS.includes(spec.key), `${where} is guarded by the server but a workspace may set ${spec.key}`);
      assert.ok(USER_SCOPES.includes(properties[`freescode.${spec.key}`].scope ?? ""), `freescode.${spec.key} is not user-scoped`);
    }
  });
});
