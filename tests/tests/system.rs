//! System tests: nasm "kernels" from `tests/system/` run on the CPU from real mode and
//! report PASS/FAIL lines over port 0xE9 (see `tab86_tests::syskernel`).

use tab86_tests::syskernel::run_checked;

#[test]
fn exceptions() {
    run_checked("exceptions", 150);
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
