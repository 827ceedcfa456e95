//! The encoding of every part's state value (see [`super::codec`] for the rules).

use super::codec::{record, Codec, DecodeError, Reader, Writer};
use crate::board::BoardState;
use tab86_cpu::flags::LazyFlags;
use tab86_cpu::msr::{MtrrState, TimeBase};
use tab86_cpu::ops::x87::Fpu;
use tab86_cpu::simd::SimdState;
use tab86_cpu::snapshot::{CpuSnapshot, F80};
use tab86_cpu::state::{CpuState, Segment, TableReg};
use tab86_devices::acpi_pm::AcpiPmState;
use tab86_devices::apic::{IoApicState, LocalApicState};
use tab86_devices::chipset::ChipsetState;
use tab86_devices::debug::DebugConState;
use tab86_devices::kbc::{I8042State, KeyboardState, OutByte, Port92State};
use tab86_devices::pci::PciBusState;
use tab86_devices::pic::ChipState;
use tab86_devices::pit::{ChannelState, PortBState, Run};
use tab86_devices::virtio::{VirtioPciState, VirtqueueState};
use tab86_devices::{PicState, PitState, RtcState, UartState};

record!(Segment {
    selector,
    rights,
    base,
    lo,
    hi,
    attr,
    limit
});
record!(TableReg { base, limit });
record!(LazyFlags { op, res, a, b, cin });
record!(MtrrState {
    variable,
    fixed,
    def_type,
    pat
});
record!(CpuState {
    gpr,
    eip,
    eflags,
    lazy,
    seg,
    ldtr,
    tr,
    gdtr,
    idtr,
    cr0,
    cr2,
    cr3,
    cr4,
    dr,
    cpl,
    icount,
    tsc_offset,
    sysenter_cs,
    sysenter_esp,
    sysenter_eip,
    apic_base,
    misc_enable,
    mtrr,
    efer,
    pdpte,
    halted,
    int_shadow,
    ss_shadow,
    nmi_blocked,
});
record!(F80 { signif, sign_exp });
record!(Fpu {
    fcw,
    fsw,
    tags,
    regs,
    fip,
    fcs,
    fop,
    fdp,
    fds,
    ferr
});
record!(SimdState { xmm, mxcsr });
record!(TimeBase {
    base_ns,
    base_icount,
    ns_per_kinstr
});
record!(CpuSnapshot {
    state,
    fpu,
    simd,
    time,
    in_ss_shadow,
    data_bp_hit
});

record!(ChipState {
    irr,
    isr,
    imr,
    last_irr,
    priority_add,
    irq_base,
    read_isr,
    poll,
    special_mask,
    init_state,
    auto_eoi,
    rotate_on_auto_eoi,
    special_fully_nested,
    icw4_needed,
    single,
    icw3,
    elcr,
});
record!(PicState {
    master,
    slave,
    sampled_levels
});
record!(ChannelState {
    control,
    gate,
    count,
    run,
    null_until,
    write_lsb,
    read_msb_next,
    latch,
    status_latch,
});
record!(PitState { channels, now_ns });
record!(PortBState { value });
record!(UartState {
    ier,
    lcr,
    mcr,
    line_errors,
    modem_inputs,
    msr_delta,
    scr,
    divisor,
    fcr,
    rx,
    host_pending,
    thr_pending,
    timeout_pending,
    timeout_at,
    now_ns,
});
record!(RtcState {
    cmos,
    index,
    nmi_disabled,
    base_secs,
    div_offset_ns,
    held_secs,
    flags,
    now_ns
});
record!(KeyboardState {
    queue,
    scanning,
    pending,
    scancode_set,
    leds
});
record!(OutByte {
    value,
    aux,
    timeout
});
record!(I8042State {
    ram,
    output_port,
    sys_flag,
    last_was_command,
    pending,
    obuf,
    ctrl_queue,
    last_data,
    keyboard,
});
record!(Port92State { value });
record!(DebugConState { last });
record!(PciBusState {
    address,
    reset_control,
    functions
});
record!(AcpiPmState {
    status,
    enable,
    control,
    timer_epoch
});
record!(ChipsetState {
    pic,
    pit,
    port_b,
    uarts,
    rtc,
    kbc,
    port92,
    post,
    pci,
    acpi_pm,
    irq_edges,
});

record!(VirtqueueState {
    size,
    ready,
    desc,
    avail,
    used,
    event_idx,
    indirect,
    last_avail,
    used_idx,
    signalled,
});
record!(VirtioPciState {
    config,
    status,
    device_feature_select,
    driver_feature_select,
    driver_features,
    queue_select,
    isr,
    notified,
    queues,
});

impl Codec for Run {
    fn put(&self, w: &mut Writer) {
        match *self {
            Run::Idle { ce } => (0u8, ce).put(w),
            Run::WaitTrigger { ce } => (1u8, ce).put(w),
            Run::OneShot { origin, start, tc } => {
                (2u8, origin).put(w);
                (start, tc).put(w);
            }
            Run::Paused { ce, remaining } => {
                (3u8, ce).put(w);
                remaining.put(w);
            }
            Run::Periodic {
                origin,
                reload,
                next,
            } => {
                (4u8, origin).put(w);
                (reload, next).put(w);
            }
            Run::Halted { ce } => (5u8, ce).put(w),
        }
    }
    fn get(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(match u8::get(r)? {
            0 => Run::Idle { ce: Codec::get(r)? },
            1 => Run::WaitTrigger { ce: Codec::get(r)? },
            2 => Run::OneShot {
                origin: Codec::get(r)?,
                start: Codec::get(r)?,
                tc: Codec::get(r)?,
            },
            3 => Run::Paused {
                ce: Codec::get(r)?,
                remaining: Codec::get(r)?,
            },
            4 => Run::Periodic {
                origin: Codec::get(r)?,
                reload: Codec::get(r)?,
                next: Codec::get(r)?,
            },
            5 => Run::Halted { ce: Codec::get(r)? },
            v => return Err(DecodeError(format!("{v} is not a PIT counter state"))),
        })
    }
}

record!(LocalApicState {
    base,
    id,
    tpr,
    ldr,
    dfr,
    svr,
    isr,
    tmr,
    irr,
    esr,
    esr_pending,
    icr,
    lvt,
    initial_count,
    divide,
    timer_start_ns,
    timer_next_ns,
    nmi_pending,
});
record!(IoApicState {
    id,
    select,
    redir,
    active,
    levels
});
record!(BoardState {
    apics,
    ioapic_edges,
    nmi
});
