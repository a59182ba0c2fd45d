// Validates SARIF logs against the official SARIF 2.1.0 JSON schema, the copy
// that @microsoft/sarif-multitool ships, with ajv (JSON Schema 2020-12, every format
// checked). `.ci/run` installs both from the npm registry into
// target/validators; the CLI tests call this on `migcheck check --format sarif`.
//
//   node scripts/validate-sarif.mjs NODE_MODULES FILE...
import { createRequire } from "node:module";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const [modules, ...files] = process.argv.slice(2);
if (!modules || files.length === 0) {
  console.error("usage: node scripts/validate-sarif.mjs NODE_MODULES FILE...");
  process.exit(2);
}
const require = createRequire(join(modules, "noop.js"));
// The schema declares JSON Schema 2020-12.
const Ajv = require("ajv/dist/2020");
const addFormats = require("ajv-formats");
// The schema sits in the platform package of the multitool.
const scope = join(modules, "@microsoft");
const holder = readdirSync(scope).find((d) => d.startsWith("sarif-multitool-"));
if (!holder) {
  console.error(`no @microsoft/sarif-multitool-<platform> package in ${scope}`);
  process.exit(2);
}
const schema = JSON.parse(readFileSync(join(scope, holder, "sarif-2.1.0.json"), "utf8"));
// The file names itself with draft-04's `id`, which 2020-12 spells `$id`.
if (schema.id && !schema.$id) {
  schema.$id = schema.id;
  delete schema.id;
}
const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);
const validate = ajv.compile(schema);
let failed = false;
for (const file of files) {
  const log = JSON.parse(readFileSync(file, "utf8"));
  if (validate(log)) {
    console.log(`${file}: valid SARIF 2.1.0`);
  } else {
    failed = true;
    for (const e of validate.errors) {
      console.error(`${file}: ${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)}`);
    }
  }
}
process.exit(failed ? 1 : 0);
