// tab86's page: a terminal (xterm.js) bound to the guest's COM1, the controls and
// the status line. The emulator runs in a Web Worker (worker.js); this file only
// moves bytes and messages, so the page stays responsive while the guest runs.
//
// Query parameters:
//   ?kernel=URL&initrd=URL   boot files (default: images/vmlinuz, images/initrd.cpio.gz)
//   ?append=TEXT             kernel command line (default: console=ttyS0)
//   ?mem=MIB                 guest RAM in MiB (default 256)
//   ?image=URL               a chunked disk image's manifest.json (needs the disk backend);
//                            ?image= (empty) boots without a disk
//   ?jit=0                   interpret only (when the package has a JIT)
//   ?cold                    boot the image from scratch instead of restoring the
//                            snapshot shipped beside it (also implied by ?kernel=,
//                            ?initrd=, ?append= and ?mem=)
//   ?storage=idb             keep the disk's changes in IndexedDB even where OPFS works
//                            (the fallback for browsers without OPFS sync handles)
//
// For automation, window.tab86 has serialText() (all COM1 output so far, UTF-8
// decoded), sendSerial(text), state(), stats() and errors().

import { Terminal } from "./vendor/xterm.mjs";
import { FitAddon } from "./vendor/addon-fit.mjs";

const q = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const MIB = 1 << 20;

// Defaults come from config.json (build.sh writes it: the boot files, and the
// Debian image when build.sh found one); query parameters override them.
const opts = {
  kernel: "images/vmlinuz",
  initrd: "images/initrd.cpio.gz",
  cmdline: "console=ttyS0",
  memMiB: 256,
  image: null,
  imageAppend: null,
  imageExplicit: q.has("image"),
  jit: q.get("jit") !== "0",
};
async function loadConfig() {
  try {
    const r = await fetch("config.json", { cache: "no-cache" });
    if (r.ok) {
      const c = await r.json();
      for (const k of ["kernel", "initrd", "image", "imageAppend"]) if (typeof c[k] === "string") opts[k] = c[k];
      if (typeof c.append === "string") opts.cmdline = c.append;
    }
  } catch {
    // no config.json: the built-in defaults
  }
  if (q.has("kernel")) opts.kernel = q.get("kernel");
  if (q.has("initrd")) opts.initrd = q.get("initrd");
  if (q.has("append")) opts.cmdline = opts.imageAppend = q.get("append");
  if (q.has("mem")) opts.memMiB = Number(q.get("mem"));
  if (q.has("image")) opts.image = q.get("image") || null; // ?image= (empty): no disk
}

// ---------------------------------------------------------------- error panel
const errors = [];
function showError(title, detail) {
  errors.push({ title, detail: String(detail || "") });
  $("panel-title").textContent = title;
  $("panel-detail").textContent = String(detail || "");
  $("panel").hidden = false;
  console.error(`tab86: ${title}: ${detail}`);
}
$("panel-close").onclick = () => ($("panel").hidden = true);

// ---------------------------------------------------------------- features
function missingFeatures() {
  const miss = [];
  if (typeof WebAssembly !== "object") miss.push("WebAssembly");
  if (typeof Worker !== "function") miss.push("Web Workers");
  if (typeof TextDecoder !== "function" || typeof TextEncoder !== "function") miss.push("TextEncoder/TextDecoder");
  if (typeof ReadableStream !== "function") miss.push("streams (ReadableStream)");
  if (typeof Worker === "function") {
    // Module workers: the worker imports the wasm-bindgen package as a module.
    let module = false;
    try {
      const url = URL.createObjectURL(new Blob([""], { type: "text/javascript" }));
      new Worker(url, { get type() { module = true; return "module"; } }).terminate();
      URL.revokeObjectURL(url);
    } catch {
      module = false;
    }
    if (!module) miss.push("module Web Workers");
  }
  return miss;
}

// ---------------------------------------------------------------- terminal
const term = new Terminal({
  cursorBlink: true,
  scrollback: 5000,
  fontFamily: "ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace",
  fontSize: 14,
  theme: { background: "#111111" },
});
const fit = new FitAddon();
term.loadAddon(fit);
term.open($("terminal"));
fit.fit();

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8");
let text = ""; // everything COM1 printed, decoded (window.tab86.serialText)
let typedSincePrompt = false;
let worker = null;
let state = "loading";
let lastStats = null;
const fetches = {}; // what -> {loaded, total}
let disk = null; // the image's streaming counters, from the worker

function sendSerial(s) {
  if (!worker || state === "off") return false;
  const bytes = typeof s === "string" ? encoder.encode(s) : s;
  worker.postMessage({ type: "input", bytes }, [bytes.buffer]);
  return true;
}

term.onData((d) => {
  // The terminal's own answers (busybox asks for the cursor position, ESC [ 6 n,
  // at each prompt) are not the user typing.
  if (!/^\x1b\[\d+;\d+R$/.test(d)) typedSincePrompt = true;
  sendSerial(d);
});
// Copy and paste: Ctrl-Shift-C / Ctrl-Shift-V (plain Ctrl-C stays the guest's
// interrupt; the browser's own paste, Ctrl-V or the menu, also works).
term.attachCustomKeyEventHandler((ev) => {
  if (ev.type !== "keydown" || !ev.ctrlKey || !ev.shiftKey) return true;
  if (ev.code === "KeyC") {
    const sel = term.getSelection();
    if (sel && navigator.clipboard) navigator.clipboard.writeText(sel).catch(() => {});
    return false;
  }
  if (ev.code === "KeyV") {
    if (navigator.clipboard && navigator.clipboard.readText)
      navigator.clipboard.readText().then((t) => term.paste(t)).catch(() => {});
    return false;
  }
  return true;
});

// The guest's terminal size: `stty rows R cols C` typed at the first shell
// prompt, again when the window is resized while the shell waits at a prompt,
// and on demand with "Resize guest".
// A shell prompt ends the output ("# " or "$ "), maybe followed by control
// sequences such as busybox's cursor position request.
const PROMPT = /(^|\n)[^\n]*[#$] $/;
const ESCAPES = /\x1b\[[0-9;?]*[A-Za-z]/g;
let sizedOnce = false;
let downloading = null; // a download's marker watcher
function promptShown() {
  return PROMPT.test(text.slice(-200).replace(ESCAPES, ""));
}
function atPrompt() {
  return promptShown() && !typedSincePrompt;
}
function sendSize() {
  sendSerial(`stty rows ${term.rows} cols ${term.cols}\n`);
  typedSincePrompt = true;
}
new ResizeObserver(() => {
  const before = `${term.rows}x${term.cols}`;
  fit.fit();
  if (`${term.rows}x${term.cols}` !== before && sizedOnce && atPrompt()) sendSize();
}).observe($("terminal"));

function onOutput(bytes) {
  term.write(bytes);
  text += decoder.decode(bytes, { stream: true });
  typedSincePrompt = false;
  if (!sizedOnce && promptShown()) {
    sizedOnce = true;
    sendSize();
  }
  if (downloading) downloading();
}

// ---------------------------------------------------------------- status line
function fmtBytes(n) {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(0)} kB`;
  return `${n} B`;
}
function setState(s) {
  state = s;
  $("st-state").textContent = s;
  const live = s === "running" || s === "paused";
  $("pause").disabled = !live;
  $("pause").textContent = s === "paused" ? "Resume" : "Pause";
  $("reset").disabled = s === "loading";
  $("poweroff").disabled = !live;
  $("upload").disabled = !live;
  $("download").disabled = !live;
  $("fitguest").disabled = !live;
  $("discard").hidden = $("saveoverlay").hidden = !disk;
  $("discard").disabled = $("saveoverlay").disabled = s === "loading";
}
function showFetches() {
  const parts = Object.entries(fetches).map(([w, f]) => `${w} ${fmtBytes(f.loaded)}${f.total ? ` of ${fmtBytes(f.total)}` : ""}`);
  if (disk)
    parts.unshift(`disk ${fmtBytes(disk.fetched)} in ${disk.chunks} fetches${disk.total ? ` of ${fmtBytes(disk.total)}` : ""}${disk.inFlight ? `, ${disk.inFlight} in flight` : ""}`);
  $("st-fetch").textContent = parts.join(" · ");
}
function showStats(s) {
  lastStats = s;
  $("st-mips").textContent = `${s.mips.toFixed(0)} MIPS`;
  $("st-jit").textContent = s.jitShare == null ? "interpreter" : `JIT ${(100 * s.jitShare).toFixed(0)}%`;
  $("st-mem").textContent = `RAM ${s.guestBytes / MIB} MiB · wasm ${fmtBytes(s.wasmBytes)}`;
}

// ---------------------------------------------------------------- worker
function startWorker() {
  worker = new Worker("worker.js", { type: "module" });
  worker.onerror = (e) => {
    showError("The emulator's worker could not start", e.message || "the worker script failed to load");
    setState("off");
  };
  worker.onmessage = (e) => {
    const d = e.data;
    switch (d.type) {
      case "output": onOutput(d.bytes); break;
      case "message": term.write(d.text.replace(/\n/g, "\r\n")); break;
      case "state": setState(d.state); break;
      case "stats": showStats(d); break;
      case "progress": fetches[d.what] = d; showFetches(); break;
      case "error": showError(d.title, d.detail); break;
      case "disk":
        if (!disk) {
          disk = d;
          setState(state); // shows the disk's buttons
        }
        disk = d;
        showFetches();
        break;
      case "diskerror": showError("A chunk of the disk image failed", d.text); break;
      case "notice": term.write(`\r\n[tab86: ${d.text}]\r\n`); break;
      case "overlay": {
        const link = document.createElement("a");
        link.href = URL.createObjectURL(new Blob([d.bytes]));
        link.download = d.name;
        link.click();
        break;
      }
      case "exit":
        term.write(`\r\n[tab86: the machine stopped, status ${d.status}${d.status === 0 ? " (powered off)" : ""}]\r\n`);
        break;
    }
  };
  worker.postMessage({
    type: "boot",
    kernel: new URL(opts.kernel, location.href).href,
    initrd: opts.initrd ? new URL(opts.initrd, location.href).href : null,
    cmdline: opts.cmdline,
    image: opts.image ? new URL(opts.image, location.href).href : null,
    imageAppend: opts.imageAppend,
    imageExplicit: opts.imageExplicit,
    mem: opts.memMiB * MIB,
    jit: opts.jit,
    // The shipped snapshot is a machine booted with the default files, command
    // line and 512 MiB: asking for others (?kernel=, ?initrd=, ?append=, ?mem=) boots cold.
    cold: ["cold", "kernel", "initrd", "append", "mem"].some((k) => q.has(k)),
    storage: q.get("storage") === "idb" ? "idb" : "auto",
  });
}

// ---------------------------------------------------------------- controls
$("pause").onclick = () => worker.postMessage({ type: state === "paused" ? "resume" : "pause" });
$("reset").onclick = () => {
  sizedOnce = false;
  term.write("\r\n[tab86: reset]\r\n");
  worker.postMessage({ type: "reset" });
};
$("poweroff").onclick = () => {
  worker.postMessage({ type: "poweroff" });
  term.write("\r\n[tab86: switched off; Reset starts it again]\r\n");
};
$("fitguest").onclick = sendSize;
$("discard").onclick = () => {
  if (!confirm("Discard every change made to the disk in this browser and boot the pristine image?")) return;
  sizedOnce = false;
  term.write("\r\n[tab86: discarding local changes, booting the pristine image]\r\n");
  worker.postMessage({ type: "discard" });
};
$("saveoverlay").onclick = () => worker.postMessage({ type: "overlay" });
const memSel = $("mem");
const memAsked = Number(q.get("mem") || 256);
if (![...memSel.options].some((o) => Number(o.value) === memAsked)) {
  memSel.add(new Option(`${memAsked} MiB`, String(memAsked)));
}
memSel.value = String(q.get("mem") || 256);
memSel.onchange = () => {
  q.set("mem", memSel.value);
  location.search = q.toString();
};
$("imageform").onsubmit = (e) => {
  e.preventDefault();
  const v = $("image").value.trim();
  if (v) q.set("image", v);
  else q.delete("image");
  location.search = q.toString();
};

// Upload: the file typed into the guest as base64 (busybox and Debian both have
// `base64 -d`), into the shell's current folder. Download: `base64 FILE` between
// two markers, decoded here and saved by the browser.
const UPLOAD_MAX = 4 * MIB;
$("upload").onclick = () => $("uploadfile").click();
$("uploadfile").onchange = async () => {
  const f = $("uploadfile").files[0];
  $("uploadfile").value = "";
  if (!f) return;
  if (f.size > UPLOAD_MAX) return showError("File too large to upload", `${f.name} is ${fmtBytes(f.size)}; the console carries at most ${fmtBytes(UPLOAD_MAX)}.`);
  const name = f.name.replace(/[^A-Za-z0-9._-]/g, "_");
  const bytes = new Uint8Array(await f.arrayBuffer());
  let b64 = "";
  for (let i = 0; i < bytes.length; i += 0x8000) b64 += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  b64 = btoa(b64).replace(/.{1,76}/g, "$&\n");
  sendSerial(`stty -echo; PS2=; base64 -d > '${name}' <<'TAB86EOF'\n${b64}TAB86EOF\nstty echo; PS2='> '; ls -l '${name}'\n`);
};
$("download").onclick = () => {
  const path = prompt("File in the guest to download (path):");
  if (!path) return;
  const start = text.length;
  const begin = "TAB86-DL-BEGIN\r\n", end = "TAB86-DL-END";
  downloading = () => {
    const t = text.slice(start);
    const a = t.indexOf(begin), b = t.indexOf(end, a + begin.length);
    if (a < 0 || b < 0) return;
    downloading = null;
    try {
      const bin = atob(t.slice(a + begin.length, b).replace(/\s+/g, ""));
      const out = Uint8Array.from(bin, (c) => c.charCodeAt(0));
      const link = document.createElement("a");
      link.href = URL.createObjectURL(new Blob([out]));
      link.download = path.split("/").pop();
      link.click();
    } catch {
      showError("Download failed", `the guest did not print ${path} as base64:\n${t.slice(a + begin.length, b).slice(0, 500)}`);
    }
  };
  // The markers are split in the command line so its echo does not match them.
  sendSerial(`echo TAB86-DL-""BEGIN; base64 '${path.replace(/'/g, "'\\''")}'; echo TAB86-DL-""END\n`);
};

// ---------------------------------------------------------------- automation
window.tab86 = {
  /** Everything the guest printed on COM1 so far (UTF-8 decoded). */
  serialText: () => text,
  /** Types `text` on COM1 (as if typed in the terminal). */
  sendSerial: (s) => sendSerial(String(s)),
  /** "loading" | "running" | "paused" | "off". */
  state: () => state,
  /** The last statistics the worker sent (MIPS, instructions, JIT share, memory). */
  stats: () => lastStats,
  /** The error panels shown so far: [{title, detail}]. */
  errors: () => errors.slice(),
  /**
   * The disk image's streaming counters ({fetched, chunks, total, inFlight}) and where its
   * changes are kept (storage: "opfs" | "idb" | "memory"), or null without one.
   */
  disk: () => disk,
  /**
   * Fault injection for tests: every fetch of the Worker whose URL contains
   * `match` gets `{status, body}` instead of the network's answer ([] clears).
   * Browser automation cannot always intercept a Worker's requests.
   */
  failFetches: (faults) => worker && worker.postMessage({ type: "faults", faults }),
};

// ---------------------------------------------------------------- start
const missing = missingFeatures();
await loadConfig();
$("image").value = opts.imageExplicit ? opts.image || "" : "";
if (missing.length) {
  showError("This browser lacks what the emulator needs", `missing: ${missing.join(", ")}. A current Chromium, Firefox or Safari has them.`);
  setState("off");
} else if (!(opts.memMiB >= 16 && opts.memMiB <= 2048)) {
  showError("Bad memory size", `?mem=${q.get("mem")}: give MiB from 16 to 2048`);
  setState("off");
} else {
  setState("loading");
  term.focus();
  startWorker();
}
