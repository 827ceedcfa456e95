//! End-to-end smoke tests of the run loop on tiny real-mode programs.

use tab86_cpu::{Cpu, Exit, NullBus, PhysMem};

fn run_real(code: &[u8]) -> Cpu {
    let mut mem = PhysMem::new(1 << 20);
    mem.write_bytes(0x7C00, code);
    let mut cpu = Cpu::new(mem);
    cpu.set_cs_real(0);
    cpu.state.eip = 0x7C00;
    cpu.state.gpr[4] = 0x7000;
    let exit = cpu.run(&mut NullBus, 10_000);
    assert_eq!(exit, Exit::HaltedNoWake);
    cpu
}

#[test]
fn arithmetic_loop_and_call() {
    // mov cx,10; xor ax,ax; l: add ax,cx; loop l; call f; hlt; f: inc ax; ret
    let cpu = run_real(&[
        0xB9, 0x0A, 0x00, 0x31, 0xC0, 0x01, 0xC8, 0xE2, 0xFC, 0xE8, 0x01, 0x00, 0xF4, 0x40, 0xC3,
    ]);
    assert_eq!(cpu.state.gpr[0] & 0xFFFF, 56);
    assert_eq!(cpu.state.gpr[4] & 0xFFFF, 0x7000);
}

#[test]
fn real_mode_interrupt_through_ivt() {
    // IVT[0x21] = 0000:7D00; int 21h; hlt.  At 7D00: mov bx,0x55; iret(not yet) -> hlt
    let mut mem = PhysMem::new(1 << 20);
    mem.write_bytes(0x84, &[0x00, 0x7D, 0x00, 0x00]);
    mem.write_bytes(0x7C00, &[0xCD, 0x21, 0xF4]);
    mem.write_bytes(0x7D00, &[0xBB, 0x55, 0x00, 0xF4]);
    let mut cpu = Cpu::new(mem);
    cpu.set_cs_real(0);
    cpu.state.eip = 0x7C00;
    cpu.state.gpr[4] = 0x7000;
    cpu.state.eflags |= 1 << 9;
    // INT clears IF, so the handler's HLT cannot be woken.
    assert_eq!(cpu.run(&mut NullBus, 100), Exit::HaltedNoWake);
    assert_eq!(cpu.state.gpr[3], 0x55);
    assert_eq!(cpu.state.gpr[4], 0x7000 - 6);
    // Pushed IP is the instruction after INT.
    let mut b = [0u8; 2];
    cpu.mem.read_bytes(0x7000 - 6, &mut b);
    assert_eq!(u16::from_le_bytes(b), 0x7C02);
}

#[test]
fn self_modifying_code_is_seen() {
    // mov byte [cs:next+1], 0x42 ; next: mov al, 0x00 ; hlt
    // 2E C6 06 <addr16> 42 ; B0 00 ; F4   (next at 0x7C06)
    let cpu = run_real(&[0x2E, 0xC6, 0x06, 0x07, 0x7C, 0x42, 0xB0, 0x00, 0xF4]);
    assert_eq!(cpu.state.gpr[0] & 0xFF, 0x42);
}

/// A bus that asks to end the slice on writes to port 0x10.
struct KickBus(bool);
impl tab86_cpu::InterruptController for KickBus {
    fn intr_pending(&mut self) -> bool {
        false
    }
    fn intr_ack(&mut self) -> u8 {
        0
    }
}

impl tab86_cpu::Bus for KickBus {
    fn io_read(&mut self, _port: u16, _size: u8) -> u32 {
        0
    }
    fn io_write(&mut self, port: u16, _size: u8, _value: u32) {
        self.0 |= port == 0x10;
    }
    fn mmio_read(&mut self, _addr: u32, _size: u8) -> u32 {
        0
    }
    fn mmio_write(&mut self, _addr: u32, _size: u8, _value: u32) {}
    fn end_slice(&mut self) -> bool {
        std::mem::take(&mut self.0)
    }
}

#[test]
fn a_port_write_can_end_the_slice_and_dma_invalidates_code() {
    // 7C00: out 0x11,al ; out 0x10,al (kick) ; 7C04: mov al,1 ; jmp 7C00
    let mut mem = PhysMem::new(1 << 20);
    mem.write_bytes(0x7C00, &[0xE6, 0x11, 0xE6, 0x10, 0xB0, 0x01, 0xEB, 0xF8]);
    let mut cpu = Cpu::new(mem);
    cpu.set_cs_real(0);
    cpu.state.eip = 0x7C00;
    let mut bus = KickBus(false);
    assert_eq!(cpu.run(&mut bus, 1000), Exit::Budget);
    assert_eq!(cpu.state.icount, 2, "stopped right after the kicking OUT");
    assert_eq!(cpu.state.eip, 0x7C04);
    // Second slice: the block at 7C04 gets cached, and we stop in front of it again.
    assert_eq!(cpu.run(&mut bus, 1000), Exit::Budget);
    assert_eq!((cpu.state.eip, cpu.state.gpr[0] & 0xFF), (0x7C04, 1));
    // Between slices a device (DMA) turns it into `mov al,2`: the next slice must
    // not run the stale block.
    cpu.mem.write_bytes(0x7C05, &[0x02]);
    assert_eq!(cpu.run(&mut bus, 1000), Exit::Budget);
    assert_eq!((cpu.state.eip, cpu.state.gpr[0] & 0xFF), (0x7C04, 2));
}

#[test]
fn write_to_a_chained_block_is_seen_next_time() {
    // A (7C05): jmp B.  B (7C80): mov al, imm; add bl, al; jmp W.  W (8000, another
    // page): on the second pass patch B's immediate to 7; loop three times.
    // The second pass runs A -> B through the block link; the third must see the
    // patched B: bl = 1 + 1 + 7.
    let mut mem = PhysMem::new(1 << 20);
    mem.write_bytes(0x7C00, &[0xB9, 0x03, 0x00, 0x31, 0xDB, 0xEB, 0x79]);
    mem.write_bytes(0x7C80, &[0xB0, 0x01, 0x00, 0xC3, 0xE9, 0x79, 0x03]);
    mem.write_bytes(
        0x8000,
        &[
            0x80, 0xF9, 0x02, 0x75, 0x05, 0xC6, 0x06, 0x81, 0x7C, 0x07, 0x49, 0x0F, 0x85, 0xF6,
            0xFB, 0xF4,
        ],
    );
    let mut cpu = Cpu::new(mem);
    cpu.set_cs_real(0);
    cpu.state.eip = 0x7C00;
    cpu.state.gpr[4] = 0x7000;
    assert_eq!(cpu.run(&mut NullBus, 1000), Exit::HaltedNoWake);
    assert_eq!(cpu.state.gpr[3] & 0xFF, 9);
    assert_eq!(cpu.state.gpr[1] & 0xFFFF, 0);
}

#[test]
fn code_written_between_runs_is_seen_by_the_first_instruction() {
    // l: mov al, 1 ; jmp l   -- run it, patch the immediate from outside (as a
    // loader or DMA would), run one instruction: AL must be the new value.
    let mut mem = PhysMem::new(1 << 20);
    mem.write_bytes(0x7C00, &[0xB0, 0x01, 0xEB, 0xFC]);
    let mut cpu = Cpu::new(mem);
    cpu.set_cs_real(0);
    cpu.state.eip = 0x7C00;
    assert_eq!(cpu.run(&mut NullBus, 4), Exit::Budget);
    assert_eq!((cpu.state.eip, cpu.state.gpr[0] & 0xFF), (0x7C00, 1));
    cpu.mem.write_bytes(0x7C01, &[0x07]);
    assert_eq!(cpu.run(&mut NullBus, 1), Exit::Budget);
    assert_eq!(cpu.state.gpr[0] & 0xFF, 7);
}
