//! Faults are values: every instruction step returns `Result<_, Fault>` and `?` carries
//! #PF/#GP/... up to the dispatcher, which delivers them through the IDT.

/// Exception vectors (SDM vol. 3, table 6-1).
pub mod vector {
    /// Divide error.
    pub const DE: u8 = 0;
    /// Debug exception.
    pub const DB: u8 = 1;
    /// Non-maskable interrupt.
    pub const NMI: u8 = 2;
    /// Breakpoint (INT3).
    pub const BP: u8 = 3;
    /// Overflow (INTO).
    pub const OF: u8 = 4;
    /// BOUND range exceeded.
    pub const BR: u8 = 5;
    /// Invalid opcode.
    pub const UD: u8 = 6;
    /// Device not available (x87 with EM or TS).
    pub const NM: u8 = 7;
    /// Double fault.
    pub const DF: u8 = 8;
    /// Invalid TSS.
    pub const TS: u8 = 10;
    /// Segment not present.
    pub const NP: u8 = 11;
    /// Stack-segment fault.
    pub const SS: u8 = 12;
    /// General protection.
    pub const GP: u8 = 13;
    /// Page fault.
    pub const PF: u8 = 14;
    /// x87 floating-point error.
    pub const MF: u8 = 16;
    /// Alignment check.
    pub const AC: u8 = 17;
    /// Machine check.
    pub const MC: u8 = 18;
    /// SIMD floating-point exception.
    pub const XM: u8 = 19;
}

/// An exception raised by an instruction, with its error code if the vector has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// The exception vector.
    pub vector: u8,
    /// The error code pushed on the handler's stack, if any.
    pub error_code: Option<u32>,
}

/// The result of anything that may fault.
pub type Result<T> = core::result::Result<T, Fault>;

impl Fault {
    /// An exception without an error code.
    pub const fn new(vector: u8) -> Self {
        Fault {
            vector,
            error_code: None,
        }
    }
    /// An exception with an error code.
    pub const fn with_code(vector: u8, code: u32) -> Self {
        Fault {
            vector,
            error_code: Some(code),
        }
    }
    /// #GP(code).
    pub const fn gp(code: u32) -> Self {
        Self::with_code(vector::GP, code)
    }
    /// #SS(code).
    pub const fn ss(code: u32) -> Self {
        Self::with_code(vector::SS, code)
    }
    /// #NP(code).
    pub const fn np(code: u32) -> Self {
        Self::with_code(vector::NP, code)
    }
    /// #TS(code).
    pub const fn ts(code: u32) -> Self {
        Self::with_code(vector::TS, code)
    }
    /// #UD.
    pub const fn ud() -> Self {
        Self::new(vector::UD)
    }
    /// #DE.
    pub const fn de() -> Self {
        Self::new(vector::DE)
    }
    /// #NM.
    pub const fn nm() -> Self {
        Self::new(vector::NM)
    }

    /// Whether the vector belongs to the "contributory" class for double-fault rules.
    pub fn contributory(self) -> bool {
        matches!(self.vector, 0 | 10 | 11 | 12 | 13)
    }
}
