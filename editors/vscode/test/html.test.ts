import assert from "node:assert/strict";
import { test } from "node:test";

import { escapeHtml, explainHtml, subjectOf } from "../src/html";

test("the page allows no scripts and escapes what it did not render", () => {
  const page = explainHtml({ subject: "a.py, line 1", markdown: "<script>alert(1)</script>", cspSource: "vscode-resource:" });
  assert.match(page, /default-src 'none'/);
  assert.doesNotMatch(page, /script-src/);
  assert.doesNotMatch(page, /<script>/);
  assert.match(page, /&lt;script&gt;/);
});

test("rendered HTML is used as it is, with the model named", () => {
  const page = explainHtml({ subject: "a.py", model: "deepseek-coder-6.7b", bodyHtml: "<p><strong>x</strong></p>", markdown: "**x**", cspSource: "c" });
  assert.match(page, /<p><strong>x<\/strong><\/p>/);
  assert.match(page, /by deepseek-coder-6\.7b/);
});

test("escapeHtml", () => {
  assert.equal(escapeHtml(`<a href="x">&'`), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
});

test("subjectOf names the lines as the editor shows them", () => {
  assert.equal(subjectOf("/p/stats.py", { line: 4, endLine: 4, endCharacter: 0 }), "stats.py, code around line 5");
  assert.equal(subjectOf("/p/stats.py", { line: 2, endLine: 9, endCharacter: 0 }), "stats.py, lines 3-9");
  assert.equal(subjectOf("C:\\p\\stats.py", { line: 2, endLine: 9, endCharacter: 3 }), "stats.py, lines 3-10");
  assert.equal(subjectOf("stats.py", { line: 2, endLine: 3, endCharacter: 0 }), "stats.py, line 3");
});
