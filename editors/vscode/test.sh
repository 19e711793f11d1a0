#!/usr/bin/env bash
# Build, lint, unit-test and package the VS Code extension; exits non-zero on the first failure.
# The .vsix holds the esbuild bundle (dist/extension.js), the manifest, the README, its images and the license.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --prefer-offline --no-audit --no-fund
npm run compile
npm run lint
npm test
npm run package   # vscode:prepublish bundles first
