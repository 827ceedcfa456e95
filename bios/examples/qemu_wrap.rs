//! Reference check of the Linux loader against QEMU (development tool).
//!
//! Runs [`load_linux`] into a RAM image exactly as the tab86 board does,
//! then repackages that RAM as a Multiboot kernel QEMU can boot: QEMU's own
//! Multiboot loader places it, and a 60-byte stub copies the low boot data
//! (GDT, boot_params, command line) into place, loads the GDT and enters the
//! kernel with the [`BootEntry`] registers. If the guest then reaches its
//! shell, the loader's output is right independently of tab86's CPU.
//!
//! Usage: `cargo run -p tab86-bios --example qemu_wrap -- KERNEL INITRD
//! CMDLINE OUT` writes OUT (boot with `qemu-system-i386 -kernel OUT`) and
//! OUT.low (pass as `-initrd OUT.low`). See images/qemu-check.sh.

use std::process::ExitCode;
use tab86_bios::{load_linux, pc_e820_map, BootEntry, LinuxBootOptions};

/// RAM the guest is told about (QEMU must be given more: it puts its
/// Multiboot structures and the module after the image).
const RAM_SIZE: u32 = 96 << 20;
/// The low boot data the stub copies: scratch stack + GDT up to the end of
/// the command line area.
const LOW_START: usize = 0x5000;
const LOW_END: usize = 0x3_1000;
/// The wrapped image starts just below 1 MiB, so it does not overwrite
/// QEMU's option ROMs in 0xC0000–0xEFFFF.
const IMAGE_BASE: usize = 0xF_F000;
const STUB_ADDR: usize = 0xF_F100;
const GDTR_ADDR: usize = 0xF_FF00;

fn stub(entry: &BootEntry) -> Vec<u8> {
    let mut s = vec![0x8B, 0x73, 0x18, 0x8B, 0x36]; // mov esi,[ebx+24]; mov esi,[esi]
    s.push(0xBF); // mov edi, LOW_START
    s.extend((LOW_START as u32).to_le_bytes());
    s.push(0xB9); // mov ecx, len
    s.extend(((LOW_END - LOW_START) as u32).to_le_bytes());
    s.extend([0xFC, 0xF3, 0xA4]); // cld; rep movsb
    s.extend([0x0F, 0x01, 0x15]); // lgdt [GDTR_ADDR]
    s.extend((GDTR_ADDR as u32).to_le_bytes());
    s.push(0xEA); // ljmp cs:next
    let far = s.len();
    s.extend([0, 0, 0, 0]);
    s.extend(entry.cs.selector.to_le_bytes());
    let next = (STUB_ADDR + s.len()) as u32;
    s[far..far + 4].copy_from_slice(&next.to_le_bytes());
    s.push(0x66); // mov ax, ds selector
    s.push(0xB8);
    s.extend(entry.ds.selector.to_le_bytes());
    s.extend([0x8E, 0xD8, 0x8E, 0xC0, 0x8E, 0xD0, 0x8E, 0xE0, 0x8E, 0xE8]);
    for (op, v) in [
        (0xBE, entry.esi),
        (0xBC, entry.esp),
        (0xBD, entry.ebp),
        (0xBF, entry.edi),
        (0xBB, entry.ebx),
        (0xB8, entry.eip),
    ] {
        s.push(op);
        s.extend(v.to_le_bytes());
    }
    s.extend([0xFF, 0xE0]); // jmp eax
    s
}

fn run(args: &[String]) -> Result<(), String> {
    let [kernel, initrd, cmdline, out] = args else {
        return Err("usage: qemu_wrap KERNEL INITRD CMDLINE OUT".into());
    };
    let read = |p: &String| std::fs::read(p).map_err(|e| format!("{p}: {e}"));
    let (kernel, initrd) = (read(kernel)?, read(initrd)?);
    let map = pc_e820_map(RAM_SIZE).map_err(|e| e.to_string())?;
    let mut ram = vec![0u8; RAM_SIZE as usize];
    let opts = LinuxBootOptions::new(cmdline, &map).with_initrd(&initrd);
    let l = load_linux(&mut ram, &kernel, &opts).map_err(|e| e.to_string())?;
    let end = l.initrd.map_or(l.kernel.end(), |r| r.end()) as usize;

    std::fs::write(format!("{out}.low"), &ram[LOW_START..LOW_END]).map_err(|e| e.to_string())?;
    let s = stub(&l.entry);
    ram[STUB_ADDR..STUB_ADDR + s.len()].copy_from_slice(&s);
    ram[GDTR_ADDR..GDTR_ADDR + 2].copy_from_slice(&l.entry.gdt_limit.to_le_bytes());
    ram[GDTR_ADDR + 2..GDTR_ADDR + 6].copy_from_slice(&l.entry.gdt_base.to_le_bytes());
    // Multiboot header with a.out-kludge addresses at the image start.
    let magic = 0x1BAD_B002u32;
    let flags = 1u32 << 16;
    let mut hdr = vec![];
    for v in [
        magic,
        flags,
        0u32.wrapping_sub(magic.wrapping_add(flags)),
        IMAGE_BASE as u32,
        IMAGE_BASE as u32,
        end as u32,
        0,
        STUB_ADDR as u32,
    ] {
        hdr.extend(v.to_le_bytes());
    }
    ram[IMAGE_BASE..IMAGE_BASE + hdr.len()].copy_from_slice(&hdr);
    std::fs::write(out, &ram[IMAGE_BASE..end]).map_err(|e| e.to_string())?;
    eprintln!(
        "kernel {:#x}+{:#x}, initrd {:x?}, entry eip={:#x} esi={:#x}",
        l.kernel.addr, l.kernel.size, l.initrd, l.entry.eip, l.entry.esi
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("qemu_wrap: {e}");
            ExitCode::FAILURE
        }
    }
}
