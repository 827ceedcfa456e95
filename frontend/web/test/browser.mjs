#!/usr/bin/env node
// The browser page in a real browser: headless Chromium driven by playwright-core
// (frontend/web/node_modules, from `npm ci`) against a running `tab86 serve target/web`.
//
//   node frontend/web/test/browser.mjs URL OUTDIR
//
// Boots the Debian kernel + busybox initramfs in the page, waits for the shell
// prompt in the terminal, types commands with real key events (uname -a, UTF-8,
// the terminal size the page gave the guest), pauses and resumes, takes a
// screenshot (OUTDIR/screenshot.png), then checks the error panels (a boot file
// that cannot load, a bad memory size). Prints one line per check and
// "browser: N passed, M failed"; exits 1 on any failure. TAB86_CHROMIUM names the
// browser binary (default: chromium on PATH).

import { createRequire } from "node:module";
import { mkdirSync, writeFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "..", "package.json"));
const { chromium } = require("playwright-core");

const [url, outdir] = process.argv.slice(2);
if (!url || !outdir) {
  console.error("usage: node frontend/web/test/browser.mjs URL OUTDIR");
  process.exit(2);
}
mkdirSync(outdir, { recursive: true });
const BOOT_MS = 15 * 60e3; // the interpreter on a busy 2-core machine: generous
const CMD_MS = 120e3;
// A shell prompt (busybox follows it with a cursor position request, ESC [ 6 n).
// Kernel messages may print after it, so it is looked for anywhere after a command's output.
const PROMPT = "[#$] (\\x1b\\[6n)?";

let passed = 0;
let failed = 0;
async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`browser: ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`browser: FAIL ${name}: ${e && e.message ? e.message : e}`);
  }
}
function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

const serial = (page) => page.evaluate(() => window.tab86.serialText());
// Waits until COM1's text after `from` matches `re`; the failure shows its tail.
async function waitSerial(page, re, from, timeout) {
  try {
    await page.waitForFunction(
      ([src, flags, from]) => new RegExp(src, flags).test(window.tab86.serialText().slice(from)),
      [re.source, re.flags, from],
      { timeout, polling: 250 },
    );
  } catch (e) {
    const t = await serial(page).catch(() => "");
    throw new Error(`no ${re} on the console within ${timeout / 1e3} s; last output:\n${t.slice(-600)}`);
  }
}
// Types a command with real key events into the focused terminal, waits for `re`.
async function run(page, cmd, re) {
  const from = (await serial(page)).length;
  await page.keyboard.type(cmd);
  await page.keyboard.press("Enter");
  await waitSerial(page, re, from, CMD_MS);
  return (await serial(page)).slice(from);
}

// The system's Chromium (Debian's `chromium` package): playwright-core downloads no browser.
function findChromium() {
  if (process.env.TAB86_CHROMIUM) return process.env.TAB86_CHROMIUM;
  for (const dir of (process.env.PATH || "").split(":"))
    for (const name of ["chromium", "chromium-browser"])
      if (dir && existsSync(path.join(dir, name))) return path.join(dir, name);
  console.error("browser: no chromium on PATH (apt-get install chromium, or set TAB86_CHROMIUM)");
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: findChromium(),
  headless: true,
  // Running as root (CI) needs --no-sandbox.
  args: ["--no-sandbox", "--disable-gpu"],
});
const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
const page = await context.newPage();
const consoleLines = [];
page.on("console", (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
page.on("pageerror", (e) => consoleLines.push(`pageerror: ${e.message}`));

// TAB86_BROWSER_ONLY=disk runs only the disk checks (for working on them).
if (process.env.TAB86_BROWSER_ONLY !== "disk") {
const t0 = Date.now();
await check("the page loads and the initramfs boots to a shell prompt", async () => {
  // ?image= (empty): the initramfs without a disk, whatever config.json defaults to.
  await page.goto(new URL("?image=", url).href, { waitUntil: "load" });
  await page.waitForFunction(() => window.tab86 !== undefined, null, { timeout: 30e3 });
  await waitSerial(page, /TAB86-BOOT-OK/, 0, BOOT_MS);
  // The page types `stty rows R cols C` at the first prompt; wait for the prompt after it.
  await waitSerial(page, new RegExp(`stty rows \\d+ cols \\d+\\r?\\n[^]*${PROMPT}`), 0, CMD_MS);
  const errors = await page.evaluate(() => window.tab86.errors());
  assert(errors.length === 0, `error panels: ${JSON.stringify(errors)}`);
});
const bootSeconds = (Date.now() - t0) / 1e3;
console.log(`browser: page load to the shell prompt: ${bootSeconds.toFixed(1)} s`);

await check("uname -a typed in the terminal prints Debian's kernel", async () => {
  await page.click("#terminal");
  const out = await run(page, "uname -a", new RegExp(`Linux \\S+ 6\\.1\\.0-\\S+-686 #1 SMP PREEMPT_DYNAMIC Debian .* i686 GNU/Linux[^]*${PROMPT}`));
  assert(out.includes("uname -a"), "the command was not echoed");
});

await check("the guest's terminal size is the page's", async () => {
  const [rows, cols] = await page.evaluate(() => {
    const m = /stty rows (\d+) cols (\d+)/.exec(window.tab86.serialText());
    return [Number(m[1]), Number(m[2])];
  });
  assert(rows >= 10 && cols >= 40, `implausible terminal size ${rows}x${cols}`);
  const out = await run(page, "stty size", /\n(\d+) (\d+)\r?\n/);
  const m = /\n(\d+) (\d+)\r?\n/.exec(out);
  assert(Number(m[1]) === rows && Number(m[2]) === cols, `guest says ${m[1]} ${m[2]}, page sent ${rows} ${cols}`);
});

await check("UTF-8 goes in and comes out", async () => {
  const out = await run(page, "echo 'héllo wörld ✓ ünïcode'", /\r\nhéllo wörld ✓ ünïcode\r\n/);
  assert(out.includes("✓"), "no check mark");
});

await check("Ctrl-C interrupts a running command", async () => {
  const from = (await serial(page)).length;
  await page.keyboard.type("sleep 1000");
  await page.keyboard.press("Enter");
  await waitSerial(page, /sleep 1000\r\n/, from, CMD_MS);
  await page.keyboard.press("Control+C");
  await waitSerial(page, new RegExp(`sleep 1000\\r\\n[^]*\\^C[^]*${PROMPT}`), from, CMD_MS);
});

await check("the status line shows the guest's speed and memory", async () => {
  await page.waitForFunction(() => /\d+ MIPS/.test(document.getElementById("st-mips").textContent), null, { timeout: 30e3 });
  const mem = await page.textContent("#st-mem");
  assert(/RAM 256 MiB/.test(mem), `memory: ${mem}`);
  const fetched = await page.textContent("#st-fetch");
  assert(/kernel 5\.\d MB of 5\.\d MB/.test(fetched) && /initrd 1\.\d MB of 1\.\d MB/.test(fetched), `fetch progress: ${fetched}`);
  const s = await page.evaluate(() => window.tab86.stats());
  assert(s && s.instructions > 1e8, `instructions: ${s && s.instructions}`);
});

await check("pause stops the guest and resume continues it", async () => {
  await page.click("#pause");
  await page.waitForFunction(() => window.tab86.state() === "paused", null, { timeout: 10e3 });
  const before = await page.evaluate(() => window.tab86.stats().instructions);
  // Typed while paused: nothing runs, so nothing is echoed until resume.
  const from = (await serial(page)).length;
  await page.evaluate(() => window.tab86.sendSerial("echo resumed-$((6*7))\n"));
  await page.waitForTimeout(1000);
  assert((await serial(page)).length === from, "the guest printed while paused");
  const during = await page.evaluate(() => window.tab86.stats().instructions);
  assert(during === before, `instructions moved while paused: ${before} -> ${during}`);
  await page.click("#pause");
  await waitSerial(page, /resumed-42/, from, CMD_MS);
});

await check("a screenshot of the terminal", async () => {
  await page.screenshot({ path: path.join(outdir, "screenshot.png") });
});

await check("power off stops the machine and reset starts it again", async () => {
  await page.click("#poweroff");
  await page.waitForFunction(() => window.tab86.state() === "off", null, { timeout: 10e3 });
  const from = (await serial(page)).length;
  await page.click("#reset");
  // The kernel starting again is enough: the first boot already reached the shell.
  await waitSerial(page, /Linux version 6\.1\.0/, from, BOOT_MS);
});

// Error panels: each in its own page, the tab stays usable.
async function panel(query, re) {
  const p = await context.newPage();
  try {
    await p.goto(new URL(query, url).href, { waitUntil: "load" });
    await p.waitForSelector("#panel:not([hidden])", { timeout: 60e3 });
    const t = await p.textContent("#panel");
    assert(re.test(t), `panel says: ${t}`);
    assert((await p.evaluate(() => window.tab86.state())) === "off", "the machine did not stay off");
    await p.click("#panel-close");
    assert(await p.isHidden("#panel"), "the panel does not close");
  } finally {
    await p.close();
  }
}
await check("a boot file that does not exist shows an error panel", () =>
  panel("?kernel=images/no-such-kernel", /cannot load its boot files[^]*no-such-kernel[^]*HTTP 404/));
await check("a kernel that is not a kernel shows an error panel", () =>
  panel("?kernel=index.html&initrd=", /cannot start/));
await check("a bad memory size shows an error panel", () => panel("?mem=5", /Bad memory size/));
}

// The Debian root image over HTTP with the overlay in OPFS (the page's default
// when build.sh found the image and the package has disks under wasm).
const ROOT_PROMPT = "root@tab86:[^#]*# ";
await (async () => {
  const p = await context.newPage();
  p.on("console", (m) => consoleLines.push(`disk page ${m.type()}: ${m.text()}`));
  try {
    await p.goto(url, { waitUntil: "load" });
    await p.waitForFunction(() => window.tab86 && window.tab86.state() !== "loading", null, { timeout: 120e3 });
    if (!(await p.evaluate(() => window.tab86.disk()))) {
      const why = (await p.evaluate(() => window.tab86.errors())).map((e) => e.detail).join("; ");
      console.log(`browser: SKIPPED the Debian root image checks: the page booted without a disk (${why || "no image in config.json or no disks in this package"})`);
      return;
    }
    await check("Debian boots from the image over HTTP to a root shell", async () => {
      const t = Date.now();
      await waitSerial(p, new RegExp(ROOT_PROMPT), 0, BOOT_MS);
      const d = await p.evaluate(() => window.tab86.disk());
      console.log(`browser: Debian root shell after ${((Date.now() - t) / 1e3).toFixed(1)} s, ${(d.fetched / 2 ** 20).toFixed(1)} MiB fetched of ${(d.total / 2 ** 20).toFixed(0)} MiB (${((100 * d.fetched) / d.total).toFixed(1)}%) in ${d.chunks} fetches`);
      assert(d.fetched > 0 && d.fetched < d.total / 5, `fetched ${d.fetched} of ${d.total} bytes`);
    });
    const token = `tab86-${Date.now()}`;
    await check("a file written and synced is there after a reload (OPFS overlay)", async () => {
      await p.click("#terminal");
      await run(p, `echo ${token} > /root/persist.txt; sync; echo written-$?`, new RegExp(`written-0[^]*${ROOT_PROMPT}`));
      await p.reload({ waitUntil: "load" });
      await waitSerial(p, new RegExp(ROOT_PROMPT), 0, BOOT_MS);
      await p.click("#terminal");
      // (bash wraps output in bracketed-paste switches: match the line's end only)
      await run(p, "cat /root/persist.txt", new RegExp(`${token}\r?\n`));
    });
    await check("a second tab on the same overlay is refused clearly", async () => {
      const p2 = await context.newPage();
      try {
        await p2.goto(url, { waitUntil: "load" });
        await p2.waitForSelector("#panel:not([hidden])", { timeout: 120e3 });
        const t = await p2.textContent("#panel");
        assert(/open in another tab/.test(t), `panel says: ${t}`);
      } finally {
        await p2.close();
      }
    });
    // Open gap (issue 14): in headless Chromium the guest's read of the failing
    // chunk neither fails nor returns (the check waited out its 600 s), while the
    // same failures give the guest an I/O error under Node (frontend/cli/tests/
    // node_disk.rs). Run it with TAB86_BROWSER_CHUNK_FAULTS=1 while fixing it.
    if (process.env.TAB86_BROWSER_CHUNK_FAULTS !== "1")
      console.log("browser: SKIP a chunk failing shows the error panel (open gap, issue 14; TAB86_BROWSER_CHUNK_FAULTS=1 runs it)");
    else await check("a chunk failing (HTTP 500, then a corrupt body) shows the error panel and the tab keeps working", async () => {
      // dd itself read from the disk first, then one block per failure in a chunk
      // whose content is unique in the image (zero chunks share one hash, and one
      // cached copy serves them all) and that the boot does not read; the disk retries before it
      // gives the guest the I/O error, hence the longer wait.
      await run(p, "dd if=/dev/vda of=/dev/null bs=4096 count=1 iflag=direct; echo warm-$?", new RegExp(`warm-0[^]*${ROOT_PROMPT}`));
      const failures = [
        [2560 * 64 + 32, { status: 500, body: "boom" }],
        [2048 * 64 + 32, { status: 200, body: "not the chunk's bytes" }],
      ];
      // Only the chunk holding that block fails: failing every chunk would also fail
      // the guest's other reads (systemd's pages), which is not what is tested here.
      const manifest = await (await fetch(new URL("rootfs/manifest.json", url))).json();
      for (const [block, bad] of failures) {
        const chunk = manifest.chunks[Math.floor((block * 4096) / manifest.chunk_size)];
        // Injected inside the page's Worker: Playwright's routing did not reliably
        // see the Worker's fetches (the read succeeded with the route in place).
        await p.evaluate(([match, f]) => window.tab86.failFetches([{ match, ...f }]), [`chunks/${chunk}`, bad]);
        const from = (await serial(p)).length;
        const dd = `dd if=/dev/vda of=/dev/null bs=4096 skip=${block} count=1 iflag=direct; echo dd-$?`;
        await p.keyboard.type(dd);
        await p.keyboard.press("Enter");
        await waitSerial(p, new RegExp(`Input/output error[^]*dd-1[^]*${ROOT_PROMPT}`), from, 600e3);
        await p.evaluate(() => window.tab86.failFetches([]));
        await p.waitForSelector("#panel:not([hidden])", { timeout: 30e3 });
        await p.click("#panel-close");
        assert((await serial(p)).slice(from).length > 0, "no output");
      }
      await run(p, "echo still-$((40+2))", /still-42/);
    });
  } finally {
    await p.close();
  }
})();

writeFileSync(path.join(outdir, "console.txt"), consoleLines.join("\n") + "\n");
writeFileSync(path.join(outdir, "serial.txt"), await serial(page).catch(() => ""));
await browser.close();
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
