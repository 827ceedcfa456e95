//! Taking a snapshot of a [`Machine`] and applying one to a machine just built.

use super::{DiskIdentity, MachineState, Snapshot, SnapshotError};
use crate::{disks, ClockMode, Machine};
use tab86_devices::InterruptLine;

impl DiskIdentity {
    /// The identity of a disk backend as a snapshot records it.
    pub fn of(d: &dyn tab86_devices::BlockBackend) -> Self {
        DiskIdentity {
            id: d.id(),
            capacity: d.capacity(),
            read_only: d.read_only(),
            generation: d.generation(),
        }
    }
}

impl Machine {
    /// The whole machine as a snapshot file's bytes (see [`crate::snapshot`]).
    /// Call between [`Machine::run`] calls. Refused while the machine is stopped
    /// or has disk requests in flight (run it until they complete: a snapshot is
    /// only taken at a quiescent point).
    pub fn save_state(&mut self) -> Result<Vec<u8>, SnapshotError> {
        if let Some(s) = self.stopped {
            return Err(SnapshotError::Busy(format!(
                "the machine has stopped ({s:?})"
            )));
        }
        if !self.board.virtio.is_empty() {
            // Deliver what is ready first.
            disks::service(&self.board.virtio, &mut self.cpu.mem);
            self.board.chipset.pic.sync();
            let n = disks::in_flight(&self.board.virtio);
            if n > 0 {
                return Err(SnapshotError::Busy(format!(
                    "{n} disk request(s) in flight"
                )));
            }
        }
        let state = MachineState {
            cpu: self.cpu.snapshot(),
            a20: self.cpu.mem.a20(),
            chipset: self.board.chipset.state(),
            board: self.board.state(),
            virtual_ns: self.now_ns(),
        };
        let mut virtio = Vec::new();
        let mut header = self.options.clone();
        for (s, d) in self.board.virtio.iter().zip(&mut header.disks) {
            let dev = s.dev.borrow();
            virtio.push(dev.state());
            // Now, after the host flushed the disks (see the driver's `Host::flush_disks`).
            d.generation = dev.generation();
        }
        Ok(super::encode(&header, self.cpu.mem.ram(), &state, &virtio))
    }

    /// Disk requests submitted and not yet completed (a snapshot waits for 0).
    pub fn disk_requests_in_flight(&mut self) -> usize {
        if self.board.virtio.is_empty() {
            return 0;
        }
        disks::service(&self.board.virtio, &mut self.cpu.mem);
        self.board.chipset.pic.sync();
        disks::in_flight(&self.board.virtio)
    }

    /// Put a checked snapshot into this freshly built machine. A refusal (the
    /// chipset's shape) leaves a machine that `Machine::new` then discards.
    /// `rtc_epoch` is the wall clock now (real-time mode sets the CMOS clock to it).
    pub(crate) fn apply_snapshot(
        &mut self,
        snap: Snapshot,
        rtc_epoch: u64,
    ) -> Result<(), SnapshotError> {
        let st = snap.state;
        if snap.virtio.len() != self.board.virtio.len() {
            return Err(SnapshotError::Mismatch("virtio device count".into()));
        }
        // Interrupt sources outside the chipset first (virtio INTx#, x87 FERR#):
        // the chipset's restore ends by putting back the latch of unsampled
        // edges, which their re-driving must not add to.
        for (slot, vs) in self.board.virtio.iter().zip(&snap.virtio) {
            slot.dev.borrow_mut().restore(vs);
        }
        self.board.ferr.set_level(st.cpu.fpu.ferr);
        self.board
            .chipset
            .restore(&st.chipset)
            .map_err(|e| SnapshotError::Mismatch(e.to_string()))?;
        self.board
            .restore(&st.board)
            .map_err(SnapshotError::Mismatch)?;
        disks::sync_bars(&mut self.board.chipset, &mut self.board.virtio);
        // Nothing has written this machine's RAM since it was built (the snapshot
        // firmware loads nothing), so it is all zero: only the saved non-zero
        // pages are copied.
        let ram = self.cpu.mem.ram_mut();
        for (k, &page) in snap.ram_pages.iter().enumerate() {
            ram[page * 4096..(page + 1) * 4096]
                .copy_from_slice(&snap.ram_data[k * 4096..(k + 1) * 4096]);
        }
        self.cpu.mem.set_a20(st.a20);
        self.cpu.restore(&st.cpu);
        self.board.time = st.cpu.time;
        if self.clock == ClockMode::RealTime {
            // Virtual time continues from the save point, not from zero; the CMOS
            // clock shows the host's time now (the guest's `hwclock -s` reads it).
            self.host_t0 = self.host.now_ns();
            self.virtual_t0 = st.virtual_ns;
            self.board
                .chipset
                .rtc
                .set_wall_clock(rtc_epoch, st.virtual_ns);
        }
        Ok(())
    }
}
