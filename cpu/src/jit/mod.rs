//! The WebAssembly JIT: hot physical pages are compiled into wasm modules that run
//! against the machine's arena (registers in the state window, the TLB and RAM).

mod host;
pub use host::JitHost;
