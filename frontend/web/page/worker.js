// tab86's Web Worker: owns the wasm package (pkg-web, `wasm-bindgen --target web`)
// and one Machine, fetches the boot files with progress, and runs the machine in
// slices of at most SLICE_MS so input and control messages are handled between
// them. The page (page.js) never touches the machine: it sends messages.
//
// page -> worker: {type: "boot", kernel, initrd, cmdline, mem, jit}  URLs, command line, bytes of
//                 RAM, false to interpret only (when the package has a JIT)
//                 {type: "input", bytes}   console input for COM1 (Uint8Array)
//                 {type: "pause" | "resume" | "reset" | "poweroff"}
// worker -> page: {type: "progress", what, loaded, total}   a boot file arriving (total 0 if unknown)
//                 {type: "output", bytes}  COM1 output (Uint8Array)
//                 {type: "message", text}  driver messages
//                 {type: "state", state}   "loading" | "running" | "paused" | "off"
//                 {type: "stats", mips, instructions, jitShare, wasmBytes, guestBytes}
//                 {type: "error", title, detail}
//                 {type: "exit", status}   the guest stopped the machine (0: it powered off)

import init, { Machine, MachineOptions } from "./pkg-web/tab86_web.js";

const SLICE_MS = 25; // run() budget: short enough that input and controls feel immediate
const STATS_MS = 500;

let wasm = null; // the package's exports (its memory, for the status line)
let boot = null; // {kernel, initrd, cmdline, mem}: bytes kept for reset
let m = null;
let paused = false;
let generation = 0; // bumped by reset/power off: an older loop stops
let wake = null; // ends an idle wait or a pause early

function post(msg, transfer) {
  self.postMessage(msg, transfer || []);
}

function fail(title, detail) {
  post({ type: "error", title, detail: String(detail) });
}

function kick() {
  if (wake) wake();
}

async function fetchBytes(what, url) {
  let r;
  try {
    r = await fetch(url);
  } catch (e) {
    throw new Error(`cannot fetch the ${what} ${url}: ${e.message} (network error, or the server does not allow this page's origin)`);
  }
  if (!r.ok) throw new Error(`cannot fetch the ${what} ${url}: HTTP ${r.status} ${r.statusText}`);
  const total = Number(r.headers.get("content-length")) || 0;
  if (!r.body) {
    const b = new Uint8Array(await r.arrayBuffer());
    post({ type: "progress", what, loaded: b.length, total: b.length });
    return b;
  }
  const reader = r.body.getReader();
  const parts = [];
  let loaded = 0;
  let last = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    loaded += value.length;
    const now = performance.now();
    if (now - last > 100) {
      post({ type: "progress", what, loaded, total });
      last = now;
    }
  }
  post({ type: "progress", what, loaded, total: total || loaded });
  const out = new Uint8Array(loaded);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function build() {
  const o = new MachineOptions();
  o.mem = boot.mem;
  o.kernel = boot.kernel;
  o.initrd = boot.initrd;
  o.cmdline = boot.cmdline;
  o.deterministic = false;
  o.rtc_epoch = Math.floor(Date.now() / 1000);
  if (boot.jit === false && "jit" in o) o.jit = false; // ?jit=0: interpret only
  jitSeen = boot.jit !== false;
  return new Machine(o); // throws a message on bad input
}

function flush() {
  const out = m.take_output();
  if (out.length) post({ type: "output", bytes: out }, [out.buffer]);
  const msg = m.take_messages();
  if (msg) post({ type: "message", text: msg });
}

// A macrotask yield without setTimeout's 4 ms clamp.
const channel = new MessageChannel();
const queued = [];
channel.port1.onmessage = () => queued.shift()();
function yieldTask() {
  return new Promise((resolve) => {
    queued.push(resolve);
    channel.port2.postMessage(0);
  });
}

function sleep(ms) {
  return new Promise((resolve) => {
    const w = () => {
      clearTimeout(t);
      if (wake === w) wake = null;
      resolve();
    };
    const t = setTimeout(w, Math.max(0, ms));
    wake = w;
  });
}

// The statistics the status line shows: MIPS over the last interval, the JIT's
// share of instructions when the package has a JIT, memory.
let statsAt = 0;
let statsInsns = 0;
function stats(force) {
  const now = performance.now();
  if (!force && now - statsAt < STATS_MS) return;
  const insns = m.instructions();
  const mips = statsAt && now > statsAt ? (insns - statsInsns) / (now - statsAt) / 1e3 : 0;
  statsAt = now;
  statsInsns = insns;
  post({
    type: "stats",
    mips,
    instructions: insns,
    jitShare: jitShare(),
    wasmBytes: wasm.memory.buffer.byteLength,
    guestBytes: boot.mem,
  });
}

// The share of instructions run in generated code since power-on, from the
// driver's statistics ("jit: ... N instructions (P%)"); null without a JIT.
let jitSeen = true;
function jitShare() {
  if (!jitSeen) return null;
  const r = /jit: \d+ modules .*? \d+ instructions \(([\d.]+)%\)/.exec(m.stats());
  if (!r) return null;
  return Number(r[1]) / 100;
}

async function loop(gen) {
  post({ type: "state", state: "running" });
  statsAt = 0;
  while (gen === generation && m) {
    if (paused) {
      await sleep(1e9);
      continue;
    }
    let kind;
    try {
      kind = m.run(SLICE_MS);
    } catch (e) {
      // A panic in the machine traps the wasm instance: nothing more can run.
      fail("The emulator stopped with an internal error", e && e.stack ? e.stack : e);
      m = null;
      post({ type: "state", state: "off" });
      return;
    }
    flush();
    stats(false);
    if (kind === "exit") {
      const status = m.exit_status;
      stats(true);
      m.free();
      m = null;
      post({ type: "exit", status });
      post({ type: "state", state: "off" });
      return;
    }
    if (kind === "idle") {
      const t = performance.now();
      await sleep(m.wait_ms);
      if (m && gen === generation) m.idled(performance.now() - t);
    } else {
      await yieldTask();
    }
  }
}

function start() {
  generation++;
  kick(); // an older loop's wait ends now (it sees the new generation and stops)
  if (m) m.free();
  m = null;
  try {
    m = build();
  } catch (e) {
    fail("The machine cannot start", e);
    post({ type: "state", state: "off" });
    return;
  }
  paused = false;
  loop(generation);
}

function stop() {
  generation++;
  kick();
  if (m) m.free();
  m = null;
  post({ type: "state", state: "off" });
}

self.onmessage = async (e) => {
  const d = e.data;
  switch (d.type) {
    case "boot": {
      post({ type: "state", state: "loading" });
      try {
        const [pkg, kernel, initrd] = await Promise.all([
          init(),
          fetchBytes("kernel", d.kernel),
          d.initrd ? fetchBytes("initrd", d.initrd) : Promise.resolve(undefined),
        ]);
        wasm = pkg;
        boot = { kernel, initrd, cmdline: d.cmdline, mem: d.mem, jit: d.jit };
      } catch (err) {
        fail("The page cannot load its boot files", err.message || err);
        post({ type: "state", state: "off" });
        return;
      }
      start();
      break;
    }
    case "input":
      if (m) {
        m.input(d.bytes);
        kick();
      }
      break;
    case "pause":
      if (m && !paused) {
        paused = true;
        post({ type: "state", state: "paused" });
      }
      break;
    case "resume":
      if (m && paused) {
        paused = false;
        kick();
        post({ type: "state", state: "running" });
      }
      break;
    case "reset":
      if (boot) start();
      break;
    case "poweroff":
      stop();
      break;
  }
};

self.onerror = (e) => fail("The emulator's worker failed", e.message || e);
post({ type: "state", state: "loading" });
