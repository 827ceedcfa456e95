//! System tests: nasm "kernels" from `tests/system/` run on the CPU from real mode and
//! report PASS/FAIL lines over port 0xE9 (see `tab86_tests::syskernel`).

use tab86_tests::syskernel::run_checked;

#[test]
fn exceptions() {
    run_checked("exceptions", 151);
}

#[test]
fn rings() {
    run_checked("rings", 100);
}

#[test]
fn tasks() {
    run_checked("tasks", 40);
}

#[test]
fn paging() {
    run_checked("paging", 50);
}

#[test]
fn pae() {
    run_checked("pae", 94);
}

#[test]
fn vm86() {
    run_checked("vm86", 29);
}

#[test]
fn data_breakpoints() {
    run_checked("databp", 21);
}

#[test]
fn triple_fault_ends_the_run() {
    let Some(image) = tab86_tests::syskernel::assemble("triple") else {
        return;
    };
    let r = tab86_tests::syskernel::run(&image, 1_000_000);
    assert_eq!(r.exit, tab86_cpu::Exit::TripleFault, "{}", r.out);
    assert!(r.out.contains("ARMED"), "{}", r.out);
    assert!(!r.out.contains("SURVIVED"), "{}", r.out);
}

#[test]
fn arith_faults() {
    run_checked("arith", 16);
}

#[test]
fn shadow() {
    run_checked("shadow", 22);
}

#[test]
fn stacksize() {
    run_checked("stacksize", 62);
}
