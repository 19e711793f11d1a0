-- The :Freescode* task commands, in the order of `freescode tasks --json` (the tests compare the two).
-- Plain data, so that plugin/freescode.lua can read it at startup without loading the rest.
return {
  { name = "FreescodeFix", task = "fix", desc = "Fix the code unit under the cursor, or the selected lines" },
  {
    name = "FreescodeDebug",
    task = "debug",
    desc = "Find bugs in the code unit or the selected lines (shown as diagnostics)",
  },
  { name = "FreescodeClean", task = "clean", desc = "Clean up the code unit or the selected lines" },
  { name = "FreescodeRefactor", task = "refactor", desc = "Refactor the code unit or the selected lines" },
  {
    name = "FreescodeExplain",
    task = "analyze",
    desc = "Explain the code unit or the selected lines in a floating window",
  },
}
