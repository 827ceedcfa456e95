// Time from page load to a usable Debian root shell in headless Chromium: the
// page restoring the snapshot shipped beside the image (images/build-snapshot.sh),
// or booting cold with ?cold. A benchmark, not a test (issue 17).
//
//   tab86 serve target/web --port 18950 [--latency-ms 40] &
//   node frontend/web/bench/instant.mjs http://127.0.0.1:18950/ [--cold]
//
// Prints the seconds to the prompt, to the answer of `cat /etc/debian_version`,
// the bytes the page fetched (boot files, snapshot, chunks) and the guest's
// clock against the host's. Each run uses a fresh browser profile (a new OPFS).
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "..", "package.json"));
const { chromium } = require("playwright-core");

const url = process.argv[2];
const cold = process.argv.includes("--cold");
if (!url) {
  console.error("usage: node frontend/web/bench/instant.mjs PAGE_URL [--cold]");
  process.exit(2);
}
function findChromium() {
  if (process.env.TAB86_CHROMIUM) return process.env.TAB86_CHROMIUM;
  for (const dir of (process.env.PATH || "").split(":"))
    for (const name of ["chromium", "chromium-browser"])
      if (dir && existsSync(path.join(dir, name))) return path.join(dir, name);
  console.error("instant: no chromium on PATH");
  process.exit(2);
}
const browser = await chromium.launch({ executablePath: findChromium(), headless: true, args: ["--no-sandbox", "--disable-gpu"] });
const page = await (await browser.newContext()).newPage();
let bytes = 0;
page.on("response", async (r) => {
  const n = Number((await r.allHeaders())["content-length"] || 0);
  bytes += n;
});
const serial = () => page.evaluate(() => window.tab86.serialText());
async function waitFor(re, from, ms) {
  const end = Date.now() + ms;
  for (;;) {
    const t = await serial();
    if (re.test(t.slice(from))) return t;
    if (Date.now() > end) throw new Error(`no ${re} within ${ms / 1e3} s; last output:\n${t.slice(-400)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
const t0 = Date.now();
await page.goto(new URL(cold ? "?cold" : "", url).href, { waitUntil: "load" });
await page.waitForFunction(() => window.tab86 !== undefined, null, { timeout: 30e3 });
await waitFor(/root@tab86:~# /, 0, 1800e3);
const prompt = (Date.now() - t0) / 1e3;
let from = (await serial()).length;
await page.evaluate(() => window.tab86.sendSerial("cat /etc/debian_version; echo CLOCK $(date +%s) END\n"));
const out = await waitFor(/CLOCK \d+ END/, from, 120e3);
const usable = (Date.now() - t0) / 1e3;
const clock = Number(/CLOCK (\d+) END/.exec(out.slice(from))[1]);
const version = /\b12\.\d+/.exec(out.slice(from));
const notices = await page.evaluate(() => window.tab86.errors());
console.log(
  `instant: ${cold ? "cold boot" : "restore"}: prompt ${prompt.toFixed(2)} s, debian_version ${version && version[0]} at ${usable.toFixed(2)} s, ` +
    `${(bytes / 1e6).toFixed(1)} MB fetched, guest clock - host clock = ${clock - Math.floor(Date.now() / 1000)} s` +
    (notices.length ? `, panels: ${JSON.stringify(notices)}` : ""),
);
await browser.close();
