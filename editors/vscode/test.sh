#!/usr/bin/env bash
# Build, lint, unit-test and package the VS Code extension; exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --prefer-offline --no-audit --no-fund
npm run compile
npm run lint
npm test
npx --no-install @vscode/vsce package --allow-missing-repository --out freescode.vsix
