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
// that cannot load, a bad memory size). With the Debian image in the page: a root
// shell over HTTP, a synced file found after a reload (OPFS overlay), a second tab
// refused, a chunk failing (HTTP 500, then a corrupt body: an error panel, an I/O
// error for the guest's read, the tab working on), the same persistence with
// ?storage=idb (IndexedDB overlay), and the browser closed while the guest writes
// (the overlay recovers its last flush). Prints one line per check and
// "browser: N passed, M failed"; exits 1 on any failure. TAB86_CHROMIUM names the
// browser binary (default: chromium on PATH).

import { createRequire } from "node:module";
import { mkdirSync, writeFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { createHash } from "node:crypto";
import os from "node:os";
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
  // The command's own output says the shell has left its line editor (whose raw
  // mode reads Ctrl-C as a key, without echoing ^C) and runs it; the echo of
  // the typed line alone does not (a loaded machine showed that race).
  await page.keyboard.type("echo sleep-$((6*7)); sleep 1000");
  await page.keyboard.press("Enter");
  await waitSerial(page, /\r\nsleep-42\r\n/, from, CMD_MS);
  await page.keyboard.press("Control+C");
  await waitSerial(page, new RegExp(`\\r\\nsleep-42\\r\\n[^]*\\^C[^]*${PROMPT}`), from, CMD_MS);
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
let diskPage = false; // the page booted the Debian image (else its checks are skipped)
await (async () => {
  const p = await context.newPage();
  p.on("console", (m) => consoleLines.push(`disk page ${m.type()}: ${m.text()}`));
  try {
    // An overlay whose creation was cut short (a tab closed while it wrote the
    // header; browsers have no atomic rename): 5000 bytes of junk where the page's
    // overlay goes (tab86/overlay-<SHA-256 of the manifest URL, 8 bytes>.cow). The
    // page must write a new overlay over it, not refuse it.
    const overlayName = `overlay-${createHash("sha256").update(new URL("rootfs/manifest.json", url).href).digest("hex").slice(0, 16)}.cow`;
    await p.goto(new URL("config.json", url).href);
    await p.evaluate(async (name) => {
      const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle("tab86", { create: true });
      const w = await (await dir.getFileHandle(name, { create: true })).createWritable();
      await w.write(new Uint8Array(5000).fill(0x5a));
      await w.close();
    }, overlayName);
    await p.goto(url, { waitUntil: "load" });
    await p.waitForFunction(() => window.tab86 && window.tab86.state() !== "loading", null, { timeout: 120e3 });
    if (!(await p.evaluate(() => window.tab86.disk()))) {
      const why = (await p.evaluate(() => window.tab86.errors())).map((e) => e.detail).join("; ");
      if (why) return await check("the page starts over the torn overlay file", () => assert(false, why));
      console.log(`browser: SKIPPED the Debian root image checks: the page booted without a disk (${why || "no image in config.json or no disks in this package"})`);
      return;
    }
    diskPage = true;
    await check("Debian boots from the image over HTTP to a root shell (over a torn overlay file, written anew)", async () => {
      const t = Date.now();
      await waitSerial(p, new RegExp(ROOT_PROMPT), 0, BOOT_MS);
      const d = await p.evaluate(() => window.tab86.disk());
      const errs = await p.evaluate(() => window.tab86.errors());
      assert(errs.length === 0, `error panels (the torn overlay ${overlayName} was not written anew?): ${JSON.stringify(errs)}`);
      console.log(`browser: Debian root shell after ${((Date.now() - t) / 1e3).toFixed(1)} s, ${(d.fetched / 2 ** 20).toFixed(1)} MiB fetched of ${(d.total / 2 ** 20).toFixed(0)} MiB (${((100 * d.fetched) / d.total).toFixed(1)}%) in ${d.chunks} fetches`);
      assert(d.fetched > 0 && d.fetched < d.total / 5, `fetched ${d.fetched} of ${d.total} bytes`);
    });
    const token = `tab86-${Date.now()}`;
    await check("a file written and synced is there after a reload (OPFS overlay)", async () => {
      const where = (await p.evaluate(() => window.tab86.disk())).storage;
      assert(where === "opfs", `the overlay is kept in ${where}, not OPFS`);
      await p.click("#terminal");
      await run(p, `echo ${token} > /root/persist.txt; sync; echo written-$?`, new RegExp(`written-0[^]*${ROOT_PROMPT}`));
      await p.reload({ waitUntil: "load" });
      await waitSerial(p, new RegExp(ROOT_PROMPT), 0, BOOT_MS);
      await p.click("#terminal");
      // (bash wraps output in bracketed-paste switches: match the line's end only)
      await run(p, "cat /root/persist.txt", new RegExp(`${token}\r?\n`));
      await run(p, "uname -a; head -2 /etc/os-release", new RegExp(`PRETTY_NAME[^]*${ROOT_PROMPT}`));
      await p.screenshot({ path: path.join(outdir, "screenshot-debian.png") });
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
    await check("a chunk failing (HTTP 500, then a corrupt body) shows the error panel, the guest gets an I/O error, the tab keeps working", async () => {
      // dd reads one 4 KiB block with O_DIRECT (no page cache) in a chunk whose
      // content is unique in the image (zero chunks share one hash and one cached
      // copy) and away from the ext2 group metadata at each group's start. The
      // disk's own chunk cache may hold it already (the boot read it): then the read
      // succeeds without a fetch, as it should, and the next candidate is tried.
      await run(p, "dd if=/dev/vda of=/dev/null bs=4096 count=1 iflag=direct; echo warm-$?", new RegExp(`warm-0[^]*${ROOT_PROMPT}`));
      const manifest = await (await fetch(new URL("rootfs/manifest.json", url))).json();
      const uses = new Map();
      for (const h of manifest.chunks) uses.set(h, (uses.get(h) || 0) + 1);
      const perChunk = manifest.chunk_size / 4096;
      const candidates = [];
      for (let i = manifest.chunks.length - 1; i >= 0 && candidates.length < 40; i--)
        if (uses.get(manifest.chunks[i]) === 1 && i % 512 >= 64) candidates.push(i);
      const faults = [
        { status: 500, body: "boom" },
        { status: 200, body: "not the chunk's bytes" },
      ];
      let cached = 0;
      for (const bad of faults) {
        for (;;) {
          const chunk = candidates.shift();
          assert(chunk !== undefined, `every candidate chunk was cached (${cached})`);
          const block = chunk * perChunk + 7;
          await p.evaluate(([match, f]) => window.tab86.failFetches([{ match, ...f }]), [`chunks/${manifest.chunks[chunk]}`, bad]);
          const errorsBefore = (await p.evaluate(() => window.tab86.errors())).length;
          const chunksBefore = (await p.evaluate(() => window.tab86.disk())).chunks;
          const from = (await serial(p)).length;
          // The disk retries (backoff 0.2, 0.4, 0.8 s) before the guest gets the error.
          const out = await run(p, `dd if=/dev/vda of=/dev/null bs=4096 skip=${block} count=1 iflag=direct; echo dd-$?`, new RegExp(`dd-\\d+[^]*${ROOT_PROMPT}`));
          await p.evaluate(() => window.tab86.failFetches([]));
          if (/dd-0/.test(out)) {
            // Served from the disk's cache: no fetch was made for it.
            const d = await p.evaluate(() => window.tab86.disk());
            assert(d.chunks >= chunksBefore, "counters went back");
            cached++;
            continue;
          }
          assert(/Input\/output error/.test(out) && /dd-1/.test(out), `dd of block ${block} (chunk ${chunk}, ${bad.status}): ${out.slice(-400)}`);
          const errs = await p.evaluate(() => window.tab86.errors());
          assert(errs.length > errorsBefore && errs.slice(errorsBefore).some((e) => e.title === "A chunk of the disk image failed"), `no error panel: ${JSON.stringify(errs.slice(errorsBefore))}`);
          assert(await p.isVisible("#panel"), "the error panel is not shown");
          await p.click("#panel-close");
          assert(await p.isHidden("#panel"), "the panel does not close");
          await p.click("#terminal"); // the keyboard's focus back from the panel's button
          console.log(`browser: chunk ${chunk} (${bad.status === 500 ? "HTTP 500" : "corrupt body"}): the guest got an I/O error${cached ? ` (${cached} cached candidates skipped)` : ""}`);
          // The same block once the server is healthy again: read and verified.
          await run(p, `dd if=/dev/vda of=/dev/null bs=4096 skip=${block} count=1 iflag=direct; echo again-$?`, new RegExp(`again-0[^]*${ROOT_PROMPT}`));
          break;
        }
      }
      await run(p, "echo still-$((40+2))", /still-42/);
    });
  } finally {
    await p.close();
  }
})();

// Persistence where OPFS is missing: ?storage=idb keeps the overlay in IndexedDB
// (the fallback the page takes by itself without OPFS sync handles).
if (diskPage)
  await check("with ?storage=idb a file written and synced is there after a reload (IndexedDB overlay)", async () => {
    const p = await context.newPage();
    p.on("console", (m) => consoleLines.push(`idb page ${m.type()}: ${m.text()}`));
    try {
      await p.goto(new URL("?storage=idb", url).href, { waitUntil: "load" });
      await waitSerial(p, new RegExp(ROOT_PROMPT), 0, BOOT_MS);
      const where = (await p.evaluate(() => window.tab86.disk())).storage;
      assert(where === "idb", `the overlay is kept in ${where}, not IndexedDB`);
      const token = `idb-${Date.now()}`;
      await p.click("#terminal");
      await run(p, `echo ${token} > /root/idb.txt; sync; echo written-$?`, new RegExp(`written-0[^]*${ROOT_PROMPT}`));
      await p.reload({ waitUntil: "load" });
      await waitSerial(p, new RegExp(ROOT_PROMPT), 0, BOOT_MS);
      await p.click("#terminal");
      await run(p, "cat /root/idb.txt", new RegExp(`${token}\r?\n`));
      const errs = await p.evaluate(() => window.tab86.errors());
      assert(errs.length === 0, `error panels: ${JSON.stringify(errs)}`);
    } finally {
      await p.close();
    }
  });

// Killing the tab mid-write: a browser profile on disk (so OPFS outlives the
// browser), the guest writing and syncing in a loop, the browser closed under it,
// then the same profile opened again. The overlay must recover its last flush:
// Debian boots from it, the file synced before the loop is there, and a file from
// the base reads as before; the server's image is unchanged.
if (diskPage)
  await check("closing the browser while the guest writes: the overlay recovers its last flush, the base is untouched", async () => {
    const profile = mkdtempSync(path.join(os.tmpdir(), "tab86-kill-"));
    const launch = () =>
      chromium.launchPersistentContext(profile, { executablePath: findChromium(), headless: true, args: ["--no-sandbox", "--disable-gpu"], viewport: { width: 1100, height: 700 } });
    const manifestHash = async () =>
      createHash("sha256").update(Buffer.from(await (await fetch(new URL("rootfs/manifest.json", url))).arrayBuffer())).digest("hex");
    const baseBefore = await manifestHash();
    let ctx = await launch();
    try {
      let k = ctx.pages()[0] || (await ctx.newPage());
      await k.goto(url, { waitUntil: "load" });
      await waitSerial(k, new RegExp(ROOT_PROMPT), 0, BOOT_MS);
      await k.click("#terminal");
      const sumRe = /([0-9a-f]{64})  \/usr\/bin\/ls\r?\n/;
      const sumBefore = sumRe.exec(await run(k, "sha256sum /usr/bin/ls", sumRe))[1];
      const token = `kill-${Date.now()}`;
      await run(k, `echo ${token} > /root/kill.txt; sync; echo synced-$?`, new RegExp(`synced-0[^]*${ROOT_PROMPT}`));
      // Each round rewrites 256 KiB with O_SYNC-like fsync: a flush every round.
      const from = (await serial(k)).length;
      await k.keyboard.type("i=0; while true; do i=$((i+1)); dd if=/dev/urandom of=/root/churn-$((i%3)) bs=64k count=4 conv=fsync 2>/dev/null; echo round-$i; done");
      await k.keyboard.press("Enter");
      await waitSerial(k, /round-4\r?\n/, from, CMD_MS);
      await ctx.close(); // the tab and its worker die mid-write
      ctx = await launch();
      k = ctx.pages()[0] || (await ctx.newPage());
      const lines = [];
      k.on("console", (m) => lines.push(m.text()));
      await k.goto(url, { waitUntil: "load" });
      try {
        await waitSerial(k, new RegExp(ROOT_PROMPT), 0, BOOT_MS);
      } catch (e) {
        const errs = await k.evaluate(() => window.tab86.errors()).catch(() => []);
        throw new Error(`no root shell after the kill; error panels: ${JSON.stringify(errs)}; ${e.message}`);
      }
      const errs = await k.evaluate(() => window.tab86.errors());
      assert(errs.length === 0, `error panels after the kill: ${JSON.stringify(errs)}`);
      await k.click("#terminal");
      await run(k, "cat /root/kill.txt", new RegExp(`${token}\r?\n`));
      const sumAfter = sumRe.exec(await run(k, "sha256sum /usr/bin/ls", sumRe))[1];
      assert(sumAfter === sumBefore, `/usr/bin/ls from the base changed: ${sumBefore} -> ${sumAfter}`);
      await run(k, "ls /root/churn-* >/dev/null; echo listed-$?", new RegExp(`listed-0[^]*${ROOT_PROMPT}`));
      assert((await manifestHash()) === baseBefore, "the served image's manifest changed");
    } finally {
      await ctx.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });

writeFileSync(path.join(outdir, "console.txt"), consoleLines.join("\n") + "\n");
writeFileSync(path.join(outdir, "serial.txt"), await serial(page).catch(() => ""));
await browser.close();
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
