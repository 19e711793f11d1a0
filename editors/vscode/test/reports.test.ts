import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";

import { runCli } from "../src/cli";
import {
  cell,
  DOCTOR_ARGS,
  doctorReport,
  formatTable,
  MODELS_ARGS,
  modelsReport,
  renderJson,
  USAGE_ARGS,
  usageReport,
  type CliResult,
} from "../src/reports";
import { repositoryRoot } from "./helpers/paths";

const when = new Date(0);
const ok = (stdout: string, stderr = ""): CliResult => ({ code: 0, stdout, stderr });

const models = [
  {
    id: "code-llama-7b",
    context: 100000,
    price_per_1k: 0.001,
    specialties: ["Python", "debugging"],
    sources: [],
    available: "pullable",
  },
  { id: "gemma-3-270m", context: 8192, price_per_1k: null, specialties: [], sources: ["local"], available: "local" },
];

describe("tables", () => {
  test("formatTable aligns columns under a ruled header", () => {
    assert.equal(formatTable([["a", "bb"], ["ccc", "d"]]), "a    bb\n---  --\nccc  d");
    assert.equal(formatTable([]), "");
  });

  test("cell", () => {
    assert.equal(cell(null), "-");
    assert.equal(cell([]), "-");
    assert.equal(cell(["a", "b"]), "a, b");
    assert.equal(cell(100000), "100,000");
    assert.equal(cell(0.5), "0.5");
    assert.equal(cell({ a: 1 }), '{"a":1}');
    assert.equal(cell(true), "yes");
  });
});

describe("modelsReport", () => {
  test("a table of the catalog", () => {
    const report = modelsReport("freescode", MODELS_ARGS, ok(JSON.stringify(models)), when);
    assert.ok(report.ok);
    const lines = report.text.split("\n");
    assert.match(lines[0], /^Free-S_Code network status \(`freescode models --json`, .*\): 2 models$/);
    assert.match(report.text, /model\s+context\s+price\/1K\s+available\s+specialties/);
    assert.match(report.text, /code-llama-7b\s+100,000\s+\$0\.001\s+pullable\s+Python, debugging/);
    assert.match(report.text, /gemma-3-270m\s+8,192\s+-\s+local/);
  });

  test("config problems on stderr become notes", () => {
    const report = modelsReport("freescode", MODELS_ARGS, ok("[]", "freescode: config: x: bad"), when);
    assert.ok(report.ok);
    assert.match(report.text, /Notes from freescode:\nfreescode: config: x: bad/);
  });

  test("failures in plain words", () => {
    const missing = modelsReport("freescode", MODELS_ARGS, { code: null, stdout: "", stderr: "", spawnError: "ENOENT" }, when);
    assert.ok(!missing.ok);
    assert.match(missing.message, /"freescode" was not found.*pip install 'freescode-lsp\[local\]'.*freescode\.cli\.command/);
    const failed = modelsReport("freescode", MODELS_ARGS, { code: 1, stdout: "", stderr: "Traceback\nKeyError: 'x'\n" }, when);
    assert.ok(!failed.ok);
    assert.match(failed.message, /failed \(exit 1\): Traceback\nKeyError: 'x'/);
    const notJson = modelsReport("freescode", MODELS_ARGS, ok("id  context"), when);
    assert.ok(!notJson.ok);
    assert.match(notJson.message, /did not print JSON; it printed: id {2}context/);
    const notList = modelsReport("freescode", MODELS_ARGS, ok("{}"), when);
    assert.ok(!notList.ok);
  });
});

describe("usageReport", () => {
  test("a CLI without the usage command: a clear message, not a stack of argparse text", () => {
    const stderr = "usage: freescode [-h] [--version] COMMAND ...\nfreescode: error: argument COMMAND: invalid choice: 'usage' (choose from 'run', 'models', 'registry')\n";
    const report = usageReport("freescode", USAGE_ARGS, { code: 2, stdout: "", stderr }, when);
    assert.ok(!report.ok);
    assert.match(report.message, /has no "usage" command yet/);
    assert.match(report.message, /pip install -U 'freescode-lsp\[local\]'/);
  });

  test("any JSON shape is shown readably", () => {
    const usage = { total_usd: 0.0123, budget_usd: 5, by_model: [{ model: "m", tokens: 1200, usd: 0.0012 }], period: { from: "2025-01-01" } };
    const report = usageReport("freescode", USAGE_ARGS, ok(JSON.stringify(usage)), when);
    assert.ok(report.ok);
    assert.match(report.text, /total_usd: 0\.0123/);
    assert.match(report.text, /by_model:\n {2}model {2}tokens {2}usd\n {2}-----/);
    assert.match(report.text, /period:\n {2}from: 2025-01-01/);
  });

  test("renderJson on plain values and lists", () => {
    assert.equal(renderJson(3), "3");
    assert.equal(renderJson({ tags: ["a", "b"] }), "tags: a, b");
  });
});

describe("doctorReport", () => {
  const checks = [
    { name: "python", status: "ok", detail: "3.11.7", todo: "" },
    { name: "llama.cpp build", status: "fail", detail: "uses AMX_INT8", todo: "python scripts/install_llama.py" },
  ];

  test("a failed check is shown with what to do, though doctor exits 1", () => {
    const report = doctorReport("freescode", DOCTOR_ARGS, { code: 1, stdout: JSON.stringify(checks), stderr: "" }, when);
    assert.ok(report.ok);
    assert.match(report.text, /^OK {4}python: 3\.11\.7$/m);
    assert.match(report.text, /^FAIL {2}llama\.cpp build: uses AMX_INT8\n {6}-> python scripts\/install_llama\.py$/m);
  });

  test("a crash or a missing command is a problem, not a report", () => {
    const crashed = doctorReport("freescode", DOCTOR_ARGS, { code: null, stdout: "", stderr: "Illegal instruction" }, when);
    assert.ok(!crashed.ok && /failed/.test(crashed.message));
    const odd = doctorReport("freescode", DOCTOR_ARGS, ok('{"not": "a list"}'), when);
    assert.ok(!odd.ok && /no list of checks/.test(odd.message));
  });
});

describe("runCli", () => {
  test("collects output and the exit code", async () => {
    const result = await runCli(process.execPath, ["-e", "console.log('[1]'); console.error('note'); process.exit(3)"]);
    assert.deepEqual([result.code, result.stdout.trim(), result.stderr.trim(), result.spawnError], [3, "[1]", "note", undefined]);
    const fine = await runCli(process.execPath, ["-e", "console.log('ok')"]);
    assert.equal(fine.code, 0);
  });

  test("a missing program is ENOENT, a hung one times out", async () => {
    const missing = await runCli(path.join(os.tmpdir(), "no-such-freescode-program"), []);
    assert.equal(missing.spawnError, "ENOENT");
    const hung = await runCli(process.execPath, ["-e", "setTimeout(() => {}, 10000)"], { timeoutMs: 200 });
    assert.equal(hung.spawnError, "timed out");
  });
});

describe("the real freescode CLI of this repository", () => {
  const cli = path.join(repositoryRoot, ".venv", "bin", "freescode");
  const opts = { skip: fs.existsSync(cli) ? false : "no .venv/bin/freescode in the repository", timeout: 120_000 };
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "freescode-vscode-test-"));
  after(() => fs.rmSync(cwd, { recursive: true, force: true }));

  test("models --json becomes a table", opts, async () => {
    const result = await runCli(cli, MODELS_ARGS, { cwd, timeoutMs: 100_000 });
    const report = modelsReport(cli, MODELS_ARGS, result, when);
    assert.ok(report.ok, report.ok ? "" : report.message);
    assert.match(report.text, /code-llama-7b/);
    assert.match(report.text, /gemma-3-270m/);
  });

  test("doctor --json reports the llama.cpp build and the embedded model", opts, async () => {
    const result = await runCli(cli, DOCTOR_ARGS, { cwd, timeoutMs: 100_000 });
    const report = doctorReport(cli, DOCTOR_ARGS, result, when);
    assert.ok(report.ok, report.ok ? "" : report.message);
    assert.match(report.text, /^OK {4}llama\.cpp build: CPU : /m);
    assert.match(report.text, /embedded model: /);
  });

  test("usage --json is shown, or its absence explained", opts, async () => {
    const result = await runCli(cli, USAGE_ARGS, { cwd, timeoutMs: 100_000 });
    const report = usageReport(cli, USAGE_ARGS, result, when);
    if (!report.ok) {
      assert.match(report.message, /has no "usage" command yet/);
    }
  });
});
