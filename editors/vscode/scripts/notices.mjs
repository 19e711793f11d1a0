// Writes dist/ThirdPartyNotices.txt: the license of every npm package that esbuild put into the bundle.
import * as fs from "node:fs";
import * as path from "node:path";

const meta = JSON.parse(fs.readFileSync("dist/meta.json", "utf8"));
const roots = new Set();
for (const input of Object.keys(meta.inputs)) {
  const match = input.match(/^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//);
  if (match) {
    roots.add(match[1]);
  }
}
const sections = [...roots].sort().map((root) => {
  const manifest = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
  const licenseFile = fs.readdirSync(root).find((name) => /^(license|licence|copying)/i.test(name));
  const text = licenseFile ? fs.readFileSync(path.join(root, licenseFile), "utf8").trim() : `License: ${manifest.license ?? "unknown"}`;
  return `${manifest.name} ${manifest.version} (${manifest.license ?? "see below"})\n\n${text}`;
});
const header = "Free-S_Code for VS Code bundles the following packages; their licenses follow.";
fs.writeFileSync("dist/ThirdPartyNotices.txt", [header, ...sections].join(`\n\n${"-".repeat(72)}\n\n`) + "\n");
fs.rmSync("dist/meta.json");
console.log(`ThirdPartyNotices.txt: ${sections.length} packages`);
