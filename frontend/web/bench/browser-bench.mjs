#!/usr/bin/env node
// Benchmark (not a test): page load to the shell prompt and the anchors' bench.sh
// total in headless Chromium, tab86's page against v86 (its npm package, 0.5.462,
// from ../shared/anchors' fetch.sh), the same kernel and initramfs (the anchors'
// busybox one), the same browser, rounds interleaved. Prints one RESULT line per
// boot and a table of the medians and ratios. Then the Debian root image over HTTP
// from a cold cache with --latency-ms per request: time to the root shell and the
// bytes fetched.
//
//   node frontend/web/bench/browser-bench.mjs [--runs 3] [--jit 0|1] [--quick] [--no-bench]
//                                             [--no-debian] [--latency-ms 40]
//
// Needs: bash frontend/web/build.sh (target/web), target/ci/tab86 or target/release/tab86,
// ../shared/anchors/fetch.sh + build_images.sh done (ANCHORS_WORK, default ~/.cache/tab86-anchors),
// chromium. It lays out target/web-bench/ (hard links) and serves it with tab86 serve.

import { createRequire } from "node:module";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../../..");
const require = createRequire(path.join(here, "..", "package.json"));
const { chromium } = require("playwright-core");

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const runs = Number(arg("--runs", 3));
const jit = arg("--jit", "1");
const quick = process.argv.includes("--quick"); // bench.sh quick: 1/8 of the work, not comparable
const noBench = process.argv.includes("--no-bench");
const debian = !process.argv.includes("--no-debian");
const latency = Number(arg("--latency-ms", 40));
const W = process.env.ANCHORS_WORK || path.join(process.env.HOME, ".cache/tab86-anchors");
const env = Object.fromEntries(
  fs.readFileSync(path.join(W, "anchors.env"), "utf8").split("\n").filter((l) => /^\w+=/.test(l)).map((l) => l.split(/=(.*)/s).slice(0, 2)),
);
const files = {
  kernel: path.join(W, "x/kernel/boot", `vmlinuz-${env.KV}`),
  initrd: path.join(W, "img/initrd-busybox.cpio.gz"),
  bios: path.join(W, "x/seabios/usr/share/seabios/bios.bin"),
  vgabios: path.join(W, "x/seabios/usr/share/seabios/vgabios-stdvga.bin"),
  libv86: path.join(W, "v86/package/build/libv86.mjs"),
  v86wasm: path.join(W, "v86/package/build/v86.wasm"),
};
for (const [k, f] of Object.entries(files)) if (!fs.existsSync(f)) throw new Error(`${k}: ${f} missing (run ../shared/anchors/fetch.sh and build_images.sh)`);

// target/web-bench: the page (hard links to target/web), the anchor images, v86 and its page.
const out = path.join(root, "target/web-bench");
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(path.join(out, "img"), { recursive: true });
fs.mkdirSync(path.join(out, "v86"), { recursive: true });
const link = (from, to) => fs.linkSync(from, to);
function linkTree(from, to) {
  fs.mkdirSync(to, { recursive: true });
  for (const e of fs.readdirSync(from, { withFileTypes: true })) {
    if (e.name === "rootfs") continue;
    if (e.isDirectory()) linkTree(path.join(from, e.name), path.join(to, e.name));
    else link(path.join(from, e.name), path.join(to, e.name));
  }
}
linkTree(path.join(root, "target/web"), path.join(out, "tab86"));
link(files.kernel, path.join(out, "img/kernel"));
link(files.initrd, path.join(out, "img/initrd"));
for (const k of ["bios", "vgabios", "libv86", "v86wasm"]) link(files[k], path.join(out, "v86", path.basename(files[k])));
fs.writeFileSync(
  path.join(out, "v86.html"),
  `<!doctype html><meta charset="utf-8"><title>v86</title><body><script type="module">
import { V86 } from "./v86/libv86.mjs";
let text = "";
window.serialText = () => text;
const e = new V86({
  wasm_path: "v86/v86.wasm", bios: { url: "v86/bios.bin" }, vga_bios: { url: "v86/vgabios-stdvga.bin" },
  bzimage: { url: "img/kernel" }, initrd: { url: "img/initrd" }, cmdline: "console=ttyS0",
  memory_size: 256 * 1024 * 1024, vga_memory_size: 8 * 1024 * 1024, autostart: true,
  disable_keyboard: true, disable_mouse: true, disable_speaker: true,
});
e.add_listener("serial0-output-byte", (b) => { text += String.fromCharCode(b); });
window.sendSerial = (s) => e.serial0_send(s);
</script></body>`,
);

const bin = ["target/ci/tab86", "target/release/tab86"].map((b) => path.join(root, b)).find((b) => fs.existsSync(b));
if (!bin) throw new Error("no tab86 binary: cargo build --profile ci -p tab86-cli");
const server = spawn(bin, ["serve", out, "--port", "0"], { stdio: ["ignore", "ignore", "pipe"] });
const url = await new Promise((resolve, reject) => {
  let s = "";
  server.stderr.on("data", (d) => {
    s += d;
    const m = /(http:\/\/\S+\/)/.exec(s);
    if (m) resolve(m[1]);
  });
  server.on("exit", () => reject(new Error(`tab86 serve stopped: ${s}`)));
});

const exe = process.env.TAB86_CHROMIUM || ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => fs.existsSync(p));
const browser = await chromium.launch({ executablePath: exe, headless: true, args: ["--no-sandbox", "--disable-gpu"] });

// Milliseconds from navigation start until the console shows BOOT-OK and the
// prompt, then (unless --no-bench) the anchors' /bench.sh typed at the prompt and
// the milliseconds until BENCH-ALL-DONE (as ../shared/anchors/lib.mjs times it).
async function boot(label, pageUrl, textFn, sendFn) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(pageUrl);
  const when = async (re) => {
    await page.waitForFunction(([fn, src]) => new RegExp(src).test(eval(fn)()), [textFn, re.source], { timeout: 1800e3, polling: 50 });
    return page.evaluate(() => performance.now());
  };
  const marker = await when(/BOOT-OK[^\n]*\n/);
  const prompt = await when(/ANCHOR# /);
  let bench = NaN;
  if (!noBench) {
    const t = await page.evaluate(([fn, cmd]) => (eval(fn)(cmd), performance.now()), [sendFn, `/bench.sh${quick ? " quick" : ""}\n`]);
    bench = (await when(/BENCH-ALL-DONE\r?\n/)) - t;
  }
  await ctx.close();
  console.log(`RESULT emu=${label} boot_to_marker_ms=${marker.toFixed(0)} boot_to_prompt_ms=${prompt.toFixed(0)} bench_total_ms=${bench.toFixed(0)}`);
  return { marker, prompt, bench };
}

const res = { v86: [], tab86: [] };
for (let r = 0; r < runs; r++) {
  res.v86.push(await boot("v86", `${url}v86.html`, "() => window.serialText()", "(s) => window.sendSerial(s)"));
  res.tab86.push(
    await boot(`tab86${jit === "0" ? "-nojit" : ""}`, `${url}tab86/?image=&kernel=../img/kernel&initrd=../img/initrd&jit=${jit}`, "() => window.tab86.serialText()", "(s) => window.tab86.sendSerial(s)"),
  );
}
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const load = fs.readFileSync("/proc/loadavg", "utf8").split(" ")[0];
console.log(`\n| headless Chromium ${await browser.version()}, median of ${runs}, load ${load} | page load to BOOT-OK | to the prompt | / v86 | bench.sh${quick ? " quick" : ""} total | / v86 |`);
console.log("|---|---|---|---|---|---|");
const v = median(res.v86.map((x) => x.prompt));
const vb = median(res.v86.map((x) => x.bench));
for (const [k, xs] of Object.entries(res)) {
  const p = median(xs.map((x) => x.prompt));
  const b = median(xs.map((x) => x.bench));
  console.log(`| ${k} | ${median(xs.map((x) => x.marker)).toFixed(0)} ms | ${p.toFixed(0)} ms | ${(p / v).toFixed(2)} | ${b.toFixed(0)} ms | ${(b / vb).toFixed(2)} |`);
}
server.kill();

// The Debian root image over HTTP (target/web/rootfs), on a cold cache (a fresh
// browser context: no HTTP cache, empty OPFS) with every request answered after
// --latency-ms (default 40): page load to the root shell, and the bytes the disk
// fetched to get there against the image's size.
if (debian) {
  const web = path.join(root, "target/web");
  if (!fs.existsSync(path.join(web, "rootfs/manifest.json"))) throw new Error("no target/web/rootfs: images/build-rootfs.sh, then frontend/web/build.sh");
  const slow = spawn(bin, ["serve", web, "--port", "0", "--latency-ms", String(latency)], { stdio: ["ignore", "ignore", "pipe"] });
  const durl = await new Promise((resolve, reject) => {
    let s = "";
    slow.stderr.on("data", (d) => {
      s += d;
      const m = /(http:\/\/\S+\/)/.exec(s);
      if (m) resolve(m[1]);
    });
    slow.on("exit", () => reject(new Error(`tab86 serve stopped: ${s}`)));
  });
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(durl);
  await page.waitForFunction(() => window.tab86 && /root@tab86:[^#]*# /.test(window.tab86.serialText()), null, { timeout: 1800e3, polling: 100 });
  const ms = await page.evaluate(() => performance.now());
  const d = await page.evaluate(() => window.tab86.disk());
  await ctx.close();
  slow.kill();
  console.log(`RESULT emu=tab86 debian_root_shell_ms=${ms.toFixed(0)} latency_ms=${latency} fetched_bytes=${d.fetched} fetches=${d.chunks} image_bytes=${d.total}`);
  console.log(`\n| Debian over HTTP, cold cache, ${latency} ms per request | page load to the root shell | fetched | of the image |`);
  console.log("|---|---|---|---|");
  console.log(`| tab86 | ${(ms / 1e3).toFixed(1)} s | ${(d.fetched / 2 ** 20).toFixed(1)} MiB in ${d.chunks} requests | ${((100 * d.fetched) / d.total).toFixed(1)}% of ${(d.total / 2 ** 20).toFixed(0)} MiB |`);
}
await browser.close();
