//! The platform side of the JIT: something that turns wasm bytes into a callable
//! module whose memory is the machine's arena (see `tab86_mmu::Arena`).
//!
//! Natively this is wasmtime (`frontend/jit-wasmtime`); in a browser it is the page's
//! own WebAssembly engine. The CPU only sees this trait.

/// A WebAssembly engine that runs the JIT's modules against the machine's arena.
///
/// Every module imports one memory, `"e" "m"`, which must be the arena itself
/// (its byte 0 at wasm address [`JitHost::arena_base`]), and exports one function
/// `"run"` of type `[] -> [i32]`.
pub trait JitHost {
    /// The wasm address of the arena's first byte (0 when the arena is the whole
    /// wasm memory, its heap address when the arena lives inside a larger memory).
    fn arena_base(&self) -> u32;
    /// Compiles and instantiates `wasm`; returns a handle for [`JitHost::run`].
    fn load(&mut self, wasm: &[u8]) -> Result<u32, String>;
    /// Calls the export `"run"` of module `handle` and returns its result; an error
    /// means the module trapped (the caller drops it and goes on interpreting).
    fn run(&mut self, handle: u32) -> Result<i32, String>;
    /// Frees a module (its page was written or it is no longer wanted).
    fn unload(&mut self, handle: u32);
}
