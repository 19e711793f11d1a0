/** Where the extension's own files are, from the compiled test (out/test/...). */

import * as path from "node:path";

export const extensionRoot = path.resolve(__dirname, "../../..");
export const repositoryRoot = path.resolve(extensionRoot, "../..");
