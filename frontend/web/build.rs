//! Links the wasm package with a growable indirect function table: the JIT host
//! (src/jit.rs) installs each compiled module's `run` in that table, so the CPU
//! calls generated code with a plain `call_indirect` instead of through JavaScript.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg-cdylib=--growable-table");
    }
}
