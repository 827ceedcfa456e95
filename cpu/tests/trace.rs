//! The execution trace: instruction lines and exception lines with vector and error code.

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;
use tab86_cpu::state::{cr, sreg, Segment, TableReg};
use tab86_cpu::trace::Trace;
use tab86_cpu::{Cpu, Exit, NullBus, PhysMem};

/// A `Write` whose bytes the test can read back.
#[derive(Clone, Default)]
struct Shared(Rc<RefCell<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const CODE: u32 = 0x00CF_9A00; // flat 32-bit code, high dword
const DATA: u32 = 0x00CF_9200; // flat 32-bit data, high dword

/// A 32-bit protected-mode CPU (flat GDT with three entries, IDT with a #GP
/// interrupt gate to 0x3000 where HLT waits) about to run `code` at 0x4000.
fn protected(code: &[u8]) -> Cpu {
    let mut mem = PhysMem::new(1 << 20);
    let gdt = [0u32, 0, 0xFFFF, CODE, 0xFFFF, DATA];
    for (i, d) in gdt.iter().enumerate() {
        mem.write_bytes(0x1000 + 4 * i as u32, &d.to_le_bytes());
    }
    // IDT entry 13: interrupt gate, selector 8, offset 0x3000, present, DPL 0.
    mem.write_bytes(
        0x2000 + 13 * 8,
        &[0x00, 0x30, 0x08, 0x00, 0x00, 0x8E, 0x00, 0x00],
    );
    mem.write_bytes(0x3000, &[0xF4]);
    mem.write_bytes(0x4000, code);
    let mut cpu = Cpu::new(mem);
    let s = &mut cpu.state;
    s.cr0 |= cr::PE;
    s.gdtr = TableReg {
        base: 0x1000,
        limit: 0x17,
    };
    s.idtr = TableReg {
        base: 0x2000,
        limit: 0x7FF,
    };
    for (n, seg) in s.seg.iter_mut().enumerate() {
        *seg = if n == sreg::CS {
            Segment::from_descriptor(0x08, 0xFFFF, CODE)
        } else {
            Segment::from_descriptor(0x10, 0xFFFF, DATA)
        };
    }
    s.eip = 0x4000;
    s.gpr[4] = 0x8000;
    cpu.invalidate_all();
    cpu
}

#[test]
fn trace_records_instructions_and_an_exception_with_its_error_code() {
    // mov ax, 0x2B ; mov ds, ax -> #GP(0x28): selector 0x28 is past the GDT limit.
    let mut cpu = protected(&[0x66, 0xB8, 0x2B, 0x00, 0x8E, 0xD8]);
    let out = Shared::default();
    cpu.trace = Some(Box::new(Trace::new(
        true,
        true,
        true,
        0,
        Box::new(out.clone()),
    )));
    assert_eq!(cpu.run(&mut NullBus, 100), Exit::HaltedNoWake);
    let text = String::from_utf8(out.0.borrow().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[0].starts_with("I 0 0008:00004000 00004000 mov ax,2Bh"),
        "{text}"
    );
    assert!(lines[0].contains("eax=00000000"), "{text}");
    assert!(
        lines[1].starts_with("I 1 0008:00004004 00004004 mov ds,ax"),
        "{text}"
    );
    assert!(lines[1].contains("eax=0000002b"), "{text}");
    assert!(
        lines[2].starts_with("EXC 2 vec=0d err=0028 at 0008:00004004 cpl=0"),
        "{text}"
    );
    assert!(
        lines[3].starts_with("I 2 0008:00003000 00003000 hlt"),
        "{text}"
    );
    assert!(lines[3].contains("esp=00007ff0"), "{text}");
    // The faulting MOV did not load DS.
    assert_eq!(cpu.state.seg[sreg::DS].selector, 0x10);
}

#[test]
fn trace_start_and_kinds_filter_lines() {
    let mut cpu = protected(&[0x66, 0xB8, 0x2B, 0x00, 0x8E, 0xD8]);
    let out = Shared::default();
    // Exceptions only, from instruction 1 on: just the #GP line (the fault is
    // charged as an instruction, so it is reported at count 2).
    cpu.trace = Some(Box::new(Trace::new(
        false,
        false,
        true,
        1,
        Box::new(out.clone()),
    )));
    assert_eq!(cpu.run(&mut NullBus, 100), Exit::HaltedNoWake);
    let text = String::from_utf8(out.0.borrow().clone()).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("EXC 2 vec=0d err=0028"), "{text}");
    // Tracing does not change execution: same state as an untraced run.
    let mut plain = protected(&[0x66, 0xB8, 0x2B, 0x00, 0x8E, 0xD8]);
    assert_eq!(plain.run(&mut NullBus, 100), Exit::HaltedNoWake);
    assert_eq!(plain.state.gpr, cpu.state.gpr);
    assert_eq!(plain.state.icount, cpu.state.icount);
}
