// Copies the README's two screenshots (overview and execution) from
// test-results/screenshots, written by the browser tests, to screenshots/,
// where they are committed. Run by `npm run screenshots` after the tests.
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const web = join(dirname(fileURLToPath(import.meta.url)), "..");
const from = join(web, "test-results", "screenshots");
const to = join(web, "screenshots");
mkdirSync(to, { recursive: true });
let missing = 0;
for (const name of ["overview.png", "execution.png"]) {
  const src = join(from, name);
  if (!existsSync(src)) {
    console.error(`missing ${src}: the browser tests did not write it`);
    missing++;
    continue;
  }
  copyFileSync(src, join(to, name));
  console.log(`copied ${name} to ${join(to, name)}`);
}
process.exit(missing ? 1 : 0);
