//! Decode once: iced-x86 decodes each instruction a single time into a compact [`Op`]
//! (handler pointer plus pre-extracted operands), grouped into basic blocks cached by
//! physical address. A write to a page drops the blocks that were decoded from it.

use crate::fault::Result;
use crate::ops::handler_for;
use crate::Cpu;
use hashbrown::HashMap;
use iced_x86::{
    Code, Decoder, DecoderError, DecoderOptions, FlowControl, Instruction, OpKind, Register,
};
use std::cell::RefCell;
use std::rc::{Rc, Weak};
use tab86_mmu::Bus;

/// An instruction handler: executes `op` with EIP still at the instruction's start and
/// `cpu.next_eip` at the following one (branches overwrite `next_eip`).
pub type Handler = fn(&mut Cpu, &mut dyn Bus, &Op) -> Result<()>;

/// Operand kinds in [`Op::kind`].
pub mod kind {
    /// No operand.
    pub const NONE: u8 = 0;
    /// A register (number in `Op::r`).
    pub const REG: u8 = 1;
    /// The memory operand described by `base`/`index`/`scale`/`disp`/`seg`.
    pub const MEM: u8 = 2;
    /// An immediate (`imm`, or `imm2` for the second one).
    pub const IMM: u8 = 3;
    /// An implicit string operand (DS:(E)SI or ES:(E)DI).
    pub const STR: u8 = 4;
}

/// Prefix bits in [`Op::prefix`].
pub mod prefix {
    /// REP / REPE.
    pub const REP: u8 = 1;
    /// REPNE.
    pub const REPNE: u8 = 2;
    /// LOCK.
    pub const LOCK: u8 = 4;
}

/// No register (for `base` and `index`).
pub const NO_REG: u8 = 0xFF;

/// One decoded instruction in the form the interpreter executes.
#[derive(Clone, Copy)]
pub struct Op {
    /// The handler that implements this instruction form.
    pub handler: Handler,
    /// iced-x86's code (mnemonic and operand form), for handlers that serve several forms and for tracing.
    pub code: Code,
    /// Length in bytes.
    pub len: u8,
    /// Size in bytes of the first operand (1, 2 or 4; for near branches the
    /// operand size, which decides whether EIP is truncated to 16 bits), 0 when
    /// it has none or another size. What the JIT classifies sizes by.
    pub size: u8,
    /// Operand kinds ([`kind`]), in Intel operand order.
    pub kind: [u8; 3],
    /// Register numbers for register operands (GPR, segment, control, debug, x87 or XMM number).
    pub r: [u8; 3],
    /// Memory operand base register (GPR number) or [`NO_REG`].
    pub base: u8,
    /// Memory operand index register or [`NO_REG`].
    pub index: u8,
    /// Index scale as a shift count (0-3).
    pub scale: u8,
    /// Segment of the memory operand (segment register number, override applied).
    pub seg: u8,
    /// 16-bit addressing (effective address wraps at 64 KiB, string ops use SI/DI/CX).
    pub addr16: bool,
    /// [`prefix`] bits.
    pub prefix: u8,
    /// Displacement of the memory operand.
    pub disp: u32,
    /// First immediate; for near branches the displacement from the next instruction.
    pub imm: u32,
    /// Second immediate (ENTER's level, a far pointer's selector).
    pub imm2: u32,
}

impl Op {
    /// Whether operand `n` is in memory.
    #[inline(always)]
    pub fn is_mem(&self, n: usize) -> bool {
        self.kind[n] == kind::MEM
    }
}

fn gpr_num(r: Register) -> u8 {
    let v = r as u32;
    let n = match v {
        1..=8 => v - 1,       // AL..BH in ModR/M order
        21..=28 => v - 21,    // AX..DI
        37..=44 => v - 37,    // EAX..EDI
        71..=76 => v - 71,    // ES..GS
        77..=84 => v - 77,    // XMM0-7
        185..=200 => v - 185, // CR0..CR15
        201..=216 => v - 201, // DR0..DR15
        217..=224 => v - 217, // ST0..ST7
        225..=232 => v - 225, // MM0..MM7
        233..=240 => v - 233, // TR0..TR7
        _ => 0,
    };
    n as u8
}

/// Converts an iced-x86 instruction into an [`Op`].
pub fn convert(ins: &Instruction) -> Op {
    let mut op = Op {
        handler: handler_for(ins.code()),
        code: ins.code(),
        len: ins.len() as u8,
        size: 0,
        kind: [kind::NONE; 3],
        r: [0; 3],
        base: NO_REG,
        index: NO_REG,
        scale: 0,
        seg: 3,
        addr16: false,
        prefix: 0,
        disp: 0,
        imm: 0,
        imm2: 0,
    };
    if ins.has_rep_prefix() {
        op.prefix |= prefix::REP;
    }
    if ins.has_repne_prefix() {
        op.prefix |= prefix::REPNE;
    }
    if ins.has_lock_prefix() {
        op.prefix |= prefix::LOCK;
    }
    let size = match ins.op0_kind() {
        OpKind::Register => ins.op0_register().size(),
        OpKind::Memory => ins.memory_size().size(),
        OpKind::NearBranch16 => 2,
        OpKind::NearBranch32 => 4,
        _ => 0,
    };
    op.size = if matches!(size, 1 | 2 | 4) && ins.op_count() > 0 {
        size as u8
    } else {
        0
    };
    let mut imm_seen = false;
    for n in 0..ins.op_count().min(3) {
        let k = ins.op_kind(n);
        let slot = n as usize;
        match k {
            OpKind::Register => {
                op.kind[slot] = kind::REG;
                op.r[slot] = gpr_num(ins.op_register(n));
            }
            OpKind::Memory => {
                op.kind[slot] = kind::MEM;
                let b = ins.memory_base();
                let i = ins.memory_index();
                op.base = if b == Register::None {
                    NO_REG
                } else {
                    gpr_num(b)
                };
                op.index = if i == Register::None {
                    NO_REG
                } else {
                    gpr_num(i)
                };
                op.scale = ins.memory_index_scale().trailing_zeros() as u8;
                op.disp = ins.memory_displacement32();
                op.seg = gpr_num(ins.memory_segment());
                op.addr16 = b.is_gpr16()
                    || i.is_gpr16()
                    || (b == Register::None && i == Register::None && ins.memory_displ_size() == 2);
            }
            OpKind::MemorySegSI | OpKind::MemoryESDI | OpKind::MemorySegDI => {
                op.kind[slot] = kind::STR;
                op.addr16 = true;
                if k != OpKind::MemoryESDI {
                    op.seg = gpr_num(ins.memory_segment());
                }
            }
            OpKind::MemorySegESI | OpKind::MemoryESEDI | OpKind::MemorySegEDI => {
                op.kind[slot] = kind::STR;
                if k != OpKind::MemoryESEDI {
                    op.seg = gpr_num(ins.memory_segment());
                }
            }
            OpKind::NearBranch16 | OpKind::NearBranch32 => {
                op.kind[slot] = kind::IMM;
                op.imm = (ins.near_branch_target() as u32).wrapping_sub(ins.next_ip32());
            }
            OpKind::FarBranch16 => {
                op.kind[slot] = kind::IMM;
                op.imm = ins.far_branch16() as u32;
                op.imm2 = ins.far_branch_selector() as u32;
            }
            OpKind::FarBranch32 => {
                op.kind[slot] = kind::IMM;
                op.imm = ins.far_branch32();
                op.imm2 = ins.far_branch_selector() as u32;
            }
            OpKind::Immediate8_2nd => {
                op.kind[slot] = kind::IMM;
                op.imm2 = ins.immediate8_2nd() as u32;
            }
            OpKind::Immediate8
            | OpKind::Immediate16
            | OpKind::Immediate32
            | OpKind::Immediate8to16
            | OpKind::Immediate8to32 => {
                op.kind[slot] = kind::IMM;
                let v = ins.immediate(n) as u32;
                if imm_seen {
                    op.imm2 = v;
                } else {
                    op.imm = v;
                    imm_seen = true;
                }
            }
            _ => {}
        }
    }
    if let Some(h) = crate::ops::specialize(&op) {
        op.handler = h;
    }
    op
}

/// x87 instructions keep their FOP (opcode bits for FNSTENV/FXSAVE) in `imm2`,
/// which they do not otherwise use.
fn with_fop(mut op: Op, bytes: &[u8]) -> Op {
    if let Some(f) = crate::ops::x87::fop_of(bytes) {
        op.imm2 = f as u32;
    }
    op
}

/// A basic block: instructions decoded from consecutive bytes of one physical page.
pub struct Block {
    /// The instructions, executed in order until one branches or stops the block.
    pub ops: Box<[Op]>,
    /// Physical address of the first instruction.
    pub phys: u32,
    /// Successors seen after this block (fall-through and branch target), each as
    /// the EIP it was reached at and a weak reference that dies with the block when
    /// its page is invalidated. See [`Block::chained`].
    links: RefCell<[(u32, Weak<Block>); 2]>,
    /// Times the interpreter ran this block (counts up to the JIT's hot mark).
    pub(crate) hits: std::cell::Cell<u32>,
    /// The page's wasm module has an entry at this block.
    pub(crate) jit_entry: std::cell::Cell<bool>,
}

impl Block {
    fn new(ops: Vec<Op>, phys: u32) -> Self {
        Block {
            ops: ops.into_boxed_slice(),
            phys,
            links: RefCell::new([(0, Weak::new()), (0, Weak::new())]),
            hits: std::cell::Cell::new(0),
            jit_entry: std::cell::Cell::new(false),
        }
    }

    /// The linked successor for `eip` if it is still cached and was decoded from
    /// `phys` (the caller derives `phys` from the current translation).
    #[inline(always)]
    pub(crate) fn chained(&self, slot: usize, eip: u32, phys: u32) -> Option<Rc<Block>> {
        let links = self.links.borrow();
        let (e, w) = &links[slot & 1];
        if *e != eip {
            return None;
        }
        let b = w.upgrade()?;
        (b.phys == phys).then_some(b)
    }

    /// Remembers `next` as the successor at `eip` in link `slot` (0: fall-through,
    /// 1: branch taken).
    pub(crate) fn link(&self, slot: usize, eip: u32, next: &Rc<Block>) {
        self.links.borrow_mut()[slot & 1] = (eip, Rc::downgrade(next));
    }
}

/// The cache of decoded blocks, keyed by physical address and code size.
///
/// A direct-mapped table of recently executed blocks sits in front of the hash map,
/// so the common lookup is one index and one compare.
pub struct CodeCache {
    pub(crate) blocks: HashMap<u64, Rc<Block>>,
    pub(crate) by_page: HashMap<u32, Vec<u64>>,
    fast: Box<[FastEntry]>,
}

/// A direct-mapped slot: the key and the block, or empty.
type FastEntry = Option<(u64, Rc<Block>)>;

/// Longest block decoded at once.
const MAX_BLOCK: usize = 64;

/// Entries in the direct-mapped front table (a power of two).
const FAST_ENTRIES: usize = 4096;

#[inline(always)]
fn fast_slot(key: u64) -> usize {
    let k = key as u32;
    (k ^ (k >> 12) ^ (key >> 32) as u32) as usize & (FAST_ENTRIES - 1)
}

impl Default for CodeCache {
    fn default() -> Self {
        CodeCache {
            blocks: HashMap::new(),
            by_page: HashMap::new(),
            fast: vec![None; FAST_ENTRIES].into_boxed_slice(),
        }
    }
}

impl CodeCache {
    /// Drops every block decoded from the page at `page` (a physical page address).
    pub fn invalidate_page(&mut self, page: u32) {
        if let Some(keys) = self.by_page.remove(&page) {
            for k in keys {
                self.blocks.remove(&k);
                let slot = &mut self.fast[fast_slot(k)];
                if slot.as_ref().is_some_and(|(fk, _)| *fk == k) {
                    *slot = None;
                }
            }
        }
    }

    /// Drops everything (e.g. when the memory map changes).
    pub fn clear(&mut self) {
        self.blocks.clear();
        self.by_page.clear();
        self.fast.fill(None);
    }

    /// Number of cached blocks.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// The cached block for `key`, trying the direct-mapped table first.
    #[inline(always)]
    fn get(&mut self, key: u64) -> Option<Rc<Block>> {
        let slot = fast_slot(key);
        if let Some((k, b)) = &self.fast[slot] {
            if *k == key {
                return Some(b.clone());
            }
        }
        let b = self.blocks.get(&key)?.clone();
        self.fast[slot] = Some((key, b.clone()));
        Some(b)
    }
}

impl Cpu {
    /// The block at CS:EIP, decoding it if needed, and the linear address of EIP.
    pub(crate) fn block_at(&mut self, bus: &mut dyn Bus) -> Result<(Rc<Block>, u32)> {
        let eip = self.state.eip;
        let lin = self.seg_addr(crate::state::sreg::CS, eip, 1, crate::state::Segment::EXEC)?;
        let phys = match self.tlb.lookup(lin, self.masks.xmask, self.masks.xwant) {
            Some(f) => f | (lin & 0xFFF),
            None => self.translate_fetch(bus, lin)?,
        };
        let code32 = self.state.code32();
        let key = phys as u64 | (code32 as u64) << 32;
        if let Some(b) = self.cache.get(key) {
            return Ok((b, lin));
        }
        let block = Rc::new(self.decode_block(bus, lin, phys, eip, code32)?);
        if let tab86_mmu::Region::Ram | tab86_mmu::Region::Rom(_) = self.mem.region(phys) {
            self.cache.blocks.insert(key, block.clone());
            self.cache
                .by_page
                .entry(phys & !0xFFF)
                .or_default()
                .push(key);
            if let tab86_mmu::Region::Ram = self.mem.region(phys) {
                self.mem.mark_code(phys);
            }
        }
        Ok((block, lin))
    }

    fn decode_block(
        &mut self,
        bus: &mut dyn Bus,
        lin: u32,
        phys: u32,
        eip: u32,
        code32: bool,
    ) -> Result<Block> {
        let page_left = 0x1000 - (phys & 0xFFF) as usize;
        // A block never needs more than MAX_BLOCK maximal instructions' bytes.
        let window = page_left.min(MAX_BLOCK * 15);
        let mut bytes = [0u8; MAX_BLOCK * 15];
        let ram = match self.mem.region(phys) {
            tab86_mmu::Region::Ram => self.mem.ram().get(phys as usize..phys as usize + window),
            _ => None,
        };
        match ram {
            Some(src) => bytes[..window].copy_from_slice(src),
            None => {
                for (i, b) in bytes[..window].iter_mut().enumerate() {
                    *b = self.mem.read(phys + i as u32, 1, bus) as u8;
                }
            }
        }
        let bitness = if code32 { 32 } else { 16 };
        let mut dec = Decoder::with_ip(bitness, &bytes[..window], eip as u64, DecoderOptions::NONE);
        let mut ops = Vec::new();
        let mut ins = Instruction::default();
        while dec.can_decode() && ops.len() < MAX_BLOCK {
            dec.decode_out(&mut ins);
            if dec.last_error() == DecoderError::NoMoreBytes {
                break;
            }
            let at = (ins.ip() as u32).wrapping_sub(eip) as usize;
            ops.push(with_fop(convert(&ins), bytes.get(at..).unwrap_or(&[])));
            if ins.flow_control() != FlowControl::Next {
                break;
            }
        }
        if ops.is_empty() {
            // The first instruction crosses into the next page: fetch it through both
            // translations (either may fault) and run it uncached.
            let mut buf = [0u8; 15];
            for (i, b) in buf.iter_mut().enumerate() {
                let a = lin.wrapping_add(i as u32);
                let limit_ok = self
                    .seg_addr(
                        crate::state::sreg::CS,
                        eip.wrapping_add(i as u32),
                        1,
                        crate::state::Segment::EXEC,
                    )
                    .is_ok();
                if !limit_ok {
                    break;
                }
                match self.fetch_lin8(bus, a) {
                    Ok(v) => *b = v,
                    Err(f) if i < page_left => return Err(f),
                    Err(f) => {
                        // Only fault if the instruction really needs this byte.
                        let mut d =
                            Decoder::with_ip(bitness, &buf[..i], eip as u64, DecoderOptions::NONE);
                        d.decode_out(&mut ins);
                        if d.last_error() == DecoderError::NoMoreBytes {
                            return Err(f);
                        }
                        break;
                    }
                }
            }
            let mut d = Decoder::with_ip(bitness, &buf, eip as u64, DecoderOptions::NONE);
            d.decode_out(&mut ins);
            ops.push(with_fop(convert(&ins), &buf));
        }
        Ok(Block::new(ops, phys))
    }

    /// Drops blocks on pages that guest writes have touched.
    pub(crate) fn drop_invalidated(&mut self) {
        for page in self.mem.take_invalidated() {
            self.cache.invalidate_page(page);
            if let Some(j) = self.jit.as_mut() {
                j.invalidate_page(page);
            }
        }
    }
}
