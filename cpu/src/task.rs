//! Hardware task switching (TSS, task gates).

use crate::fault::{Fault, Result};
use crate::Cpu;
use tab86_mmu::Bus;

impl Cpu {
    /// Interrupt through a task gate: switches to the task named by `sel`.
    pub(crate) fn task_gate_interrupt(
        &mut self,
        bus: &mut dyn Bus,
        sel: u16,
        code: Option<u32>,
        ret_eip: u32,
    ) -> Result<()> {
        let _ = (bus, code, ret_eip);
        Err(Fault::ts(sel as u32 & 0xFFFC))
    }
}
