/** A tiny stand-in for the `vscode` module: just what the extension's modules touch, with recorded calls. */

import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";

export interface Inspected {
  globalValue?: unknown;
  workspaceValue?: unknown;
  workspaceFolderValue?: unknown;
}

export interface FakeDocument {
  uri: Uri;
  fileName: string;
  languageId: string;
  version: number;
}

export interface FakeEditor {
  document: FakeDocument;
  selection: { start: { line: number; character: number }; end: { line: number; character: number } };
}

/** One window.withProgress call: its options, what was reported, and a way to press Cancel. */
export interface FakeProgress {
  options: { location?: number; title?: string; cancellable?: boolean };
  reports: { message?: string; increment?: number }[];
  done: boolean;
  cancel(): void;
}

export interface Message {
  level: "info" | "warning" | "error";
  text: string;
  items: string[];
}

interface PackageJson {
  contributes: { configuration: { properties: Record<string, { default?: unknown }> }[] };
}

const packageJson = JSON.parse(fs.readFileSync(path.resolve(__dirname, "../../../package.json"), "utf8")) as PackageJson;

/** The defaults VS Code would take from package.json, by key without "freescode.". */
export const contributedDefaults: Record<string, unknown> = Object.fromEntries(
  packageJson.contributes.configuration.flatMap((group) =>
    Object.entries(group.properties).map(([key, spec]) => [key.replace(/^freescode\./, ""), spec.default]),
  ),
);

/** Everything a test sets up or checks. */
export const mock = {
  settings: {} as Record<string, Inspected>,
  activeTextEditor: undefined as FakeEditor | undefined,
  messages: [] as Message[],
  statusMessages: [] as string[],
  executed: [] as { command: string; args: unknown[] }[],
  registered: new Map<string, (...args: unknown[]) => unknown>(),
  clipboard: "",
  choice: undefined as string | undefined,
  remoteName: undefined as string | undefined,
  progress: [] as FakeProgress[],
  reset(): void {
    this.remoteName = undefined;
    this.progress = [];
    this.registered = new Map();
    this.clipboard = "";
    this.settings = {};
    this.activeTextEditor = undefined;
    this.messages = [];
    this.statusMessages = [];
    this.executed = [];
    this.choice = undefined;
  },
};

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly fsPath: string,
    private readonly text: string,
  ) {}

  static parse(text: string): Uri {
    const scheme = text.split(":")[0];
    return new Uri(scheme, scheme === "file" ? decodeURIComponent(text.replace(/^file:\/\//, "")) : text, text);
  }

  static file(file: string): Uri {
    return new Uri("file", file, `file://${file}`);
  }

  toString(): string {
    return this.text;
  }
}

export class ThemeColor {
  constructor(readonly id: string) {}
}

export const ProgressLocation = { SourceControl: 1, Window: 10, Notification: 15 };
export const StatusBarAlignment = { Left: 1, Right: 2 };
export const ViewColumn = { Active: -1, Beside: -2, One: 1 };

function explicit(inspected: Inspected | undefined): unknown {
  return inspected?.workspaceFolderValue ?? inspected?.workspaceValue ?? inspected?.globalValue;
}

export const workspace = {
  workspaceFolders: undefined as { uri: Uri }[] | undefined,
  isTrusted: true,
  onDidChangeConfiguration(): { dispose(): void } {
    return { dispose() {} };
  },
  getConfiguration(section: string) {
    const prefix = section ? `${section}.` : "";
    return {
      inspect(key: string) {
        const inspected = mock.settings[key];
        return { key: prefix + key, defaultValue: contributedDefaults[key], ...inspected };
      },
      get<T>(key: string, fallback?: T): T | undefined {
        const value = explicit(mock.settings[key]) ?? contributedDefaults[key];
        return (value as T | undefined) ?? fallback;
      },
    };
  },
};

function record(level: Message["level"]) {
  return (text: string, ...items: string[]): Promise<string | undefined> => {
    mock.messages.push({ level, text, items });
    return Promise.resolve(items.includes(mock.choice ?? "") ? mock.choice : undefined);
  };
}

export interface FakeStatusBarItem {
  id: string;
  text: string;
  tooltip: string | undefined;
  name: string | undefined;
  command: string | undefined;
  backgroundColor: ThemeColor | undefined;
  visible: boolean;
  show(): void;
  hide(): void;
  dispose(): void;
}

export interface FakeOutputChannel {
  lines: string[];
  shown: number;
  appendLine(line: string): void;
  show(preserveFocus?: boolean): void;
  dispose(): void;
}

export function createOutputChannel(): FakeOutputChannel {
  return {
    lines: [],
    shown: 0,
    appendLine(line: string) {
      this.lines.push(line);
    },
    show() {
      this.shown += 1;
    },
    dispose() {},
  };
}

export const window = {
  get activeTextEditor(): FakeEditor | undefined {
    return mock.activeTextEditor;
  },
  showInformationMessage: record("info"),
  showWarningMessage: record("warning"),
  showErrorMessage: record("error"),
  setStatusBarMessage(text: string): { dispose(): void } {
    mock.statusMessages.push(text);
    return { dispose() {} };
  },
  withProgress<T>(
    options: FakeProgress["options"],
    task: (
      progress: { report(value: { message?: string; increment?: number }): void },
      token: { isCancellationRequested: boolean; onCancellationRequested(listener: () => void): { dispose(): void } },
    ) => Promise<T>,
  ): Promise<T> {
    const listeners: (() => void)[] = [];
    const token = {
      isCancellationRequested: false,
      onCancellationRequested(listener: () => void) {
        listeners.push(listener);
        return { dispose() {} };
      },
    };
    const entry: FakeProgress = {
      options,
      reports: [],
      done: false,
      cancel() {
        token.isCancellationRequested = true;
        listeners.forEach((listener) => listener());
      },
    };
    mock.progress.push(entry);
    return task({ report: (value) => entry.reports.push(value) }, token).finally(() => {
      entry.done = true;
    });
  },
  createStatusBarItem(id: string): FakeStatusBarItem {
    return {
      id,
      text: "",
      tooltip: undefined,
      name: undefined,
      command: undefined,
      backgroundColor: undefined,
      visible: false,
      show() {
        this.visible = true;
      },
      hide() {
        this.visible = false;
      },
      dispose() {
        this.visible = false;
      },
    };
  },
  createOutputChannel,
};

export const commands = {
  executeCommand(command: string, ...args: unknown[]): Promise<unknown> {
    mock.executed.push({ command, args });
    return Promise.resolve(undefined);
  },
  registerCommand(command: string, handler: (...args: unknown[]) => unknown): { dispose(): void } {
    assert.ok(!mock.registered.has(command), `${command} registered twice`);
    mock.registered.set(command, handler);
    return { dispose: () => mock.registered.delete(command) };
  },
};

export const env = {
  get remoteName(): string | undefined {
    return mock.remoteName;
  },
  clipboard: {
    writeText(text: string): Promise<void> {
      mock.clipboard = text;
      return Promise.resolve();
    },
  },
};

export const languages = {
  match(selector: { language?: string }[], document: FakeDocument): number {
    return selector.some((filter) => filter.language === document.languageId) ? 10 : 0;
  },
};

// vscode-languageclient extends and reads more of the API when it loads; an inert class stands in.
module.exports = new Proxy(module.exports as Record<string | symbol, unknown>, {
  get(target, key) {
    if (!(key in target) && typeof key === "string" && /^[A-Z]/.test(key)) {
      target[key] = class {};
    }
    return target[key];
  },
});
