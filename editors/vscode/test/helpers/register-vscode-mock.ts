/** Makes `require("vscode")` load the test double (VS Code itself is not available to unit tests). */

import Module from "node:module";

type Resolve = (this: unknown, request: string, ...rest: unknown[]) => string;

const loader = Module as unknown as { _resolveFilename: Resolve };
const original = loader._resolveFilename;
const mockPath = require.resolve("./vscode-mock");

loader._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]): string {
  return request === "vscode" ? mockPath : original.call(this, request, ...rest);
};
