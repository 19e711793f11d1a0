/** The Explain panel's page: the model's markdown rendered by VS Code, no scripts allowed. */

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

export interface ExplainPage {
  /** What was explained, e.g. "stats.py, lines 3-9". */
  readonly subject: string;
  readonly model?: string;
  /** The explanation as HTML (from VS Code's markdown renderer), or undefined to show the markdown as text. */
  readonly bodyHtml?: string;
  readonly markdown: string;
  /** The webview's `cspSource`, allowed for styles and images. */
  readonly cspSource: string;
}

export function explainHtml(page: ExplainPage): string {
  const csp = [
    "default-src 'none'",
    `style-src ${page.cspSource} 'unsafe-inline'`,
    `img-src ${page.cspSource} https: data:`,
    `font-src ${page.cspSource}`,
  ].join("; ");
  const body = page.bodyHtml ?? `<pre>${escapeHtml(page.markdown)}</pre>`;
  const by = page.model ? ` <span class="model">by ${escapeHtml(page.model)}</span>` : "";
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>Free-S_Code: Explain</title>
<style>
  body { font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); color: var(--vscode-foreground); padding: 0 1em 1em; line-height: 1.5; }
  h1.subject { font-size: 1.1em; border-bottom: 1px solid var(--vscode-panel-border); padding-bottom: .3em; }
  .model { color: var(--vscode-descriptionForeground); font-weight: normal; }
  pre, code { font-family: var(--vscode-editor-font-family); font-size: var(--vscode-editor-font-size); }
  pre { background: var(--vscode-textCodeBlock-background); padding: .6em; overflow-x: auto; white-space: pre-wrap; }
</style>
</head>
<body>
<h1 class="subject">${escapeHtml(page.subject)}${by}</h1>
${body}
</body>
</html>
`;
}

/** What a task covered, 1-based as the editor shows it: "stats.py, code around line 4" or "stats.py, lines 3-9". */
export function subjectOf(fileName: string, args: { line: number; endLine: number; endCharacter: number }): string {
  const name = fileName.split(/[\\/]/).pop() ?? fileName;
  if (args.endLine === args.line) {
    return `${name}, code around line ${args.line + 1}`;
  }
  const last = args.endCharacter > 0 ? args.endLine + 1 : args.endLine;
  return last <= args.line + 1 ? `${name}, line ${args.line + 1}` : `${name}, lines ${args.line + 1}-${last}`;
}
