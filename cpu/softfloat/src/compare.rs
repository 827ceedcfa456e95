//! `FCOM`/`FUCOM`/`FCOMI`/`FUCOMI`/`FTST` (SDM vol. 2).

use crate::round::{operand_d, Operand};
use crate::types::{CondCodes, Exceptions, Flags, F80};

/// Result of an x87 comparison.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Relation {
    /// ST(0) > source
    Greater,
    /// ST(0) < source
    Less,
    /// ST(0) = source (+0 = −0)
    Equal,
    /// At least one operand is a NaN or an unsupported encoding.
    Unordered,
}

impl Relation {
    /// Condition codes as `FCOM`/`FUCOM`/`FTST` set them: C3,C2,C0 =
    /// 000 greater, 001 less, 100 equal, 111 unordered; C1 = 0.
    /// (`FCOMI`/`FUCOMI` put the same pattern into ZF, PF, CF.)
    pub const fn cond_codes(self) -> CondCodes {
        let (c3, c2, c0) = match self {
            Relation::Greater => (false, false, false),
            Relation::Less => (false, false, true),
            Relation::Equal => (true, false, false),
            Relation::Unordered => (true, true, true),
        };
        CondCodes {
            c0,
            c1: false,
            c2,
            c3,
        }
    }
}

/// Compare `a` (ST(0)) with `b`.
///
/// `quiet == false` is `FCOM`/`FCOMI`: any NaN raises #IA. `quiet == true`
/// is `FUCOM`/`FUCOMI`: only SNaNs raise #IA. Unsupported encodings always
/// raise #IA. Denormal operands raise #D. The condition codes are written
/// even when #IA or #D is unmasked (observed on hardware; the SDM says they
/// are left unchanged for an unmasked #IA), so `Flags::suppressed` is never
/// set; `masks` is accepted for interface symmetry.
pub fn compare(a: F80, b: F80, quiet: bool, masks: Exceptions) -> (Relation, Flags) {
    compare_d(a, b, (false, false), quiet, masks)
}

/// Compare with operands flagged as denormal in their memory format.
pub(crate) fn compare_d(
    a: F80,
    b: F80,
    den: (bool, bool),
    quiet: bool,
    masks: Exceptions,
) -> (Relation, Flags) {
    let (oa, ob) = (operand_d(a, den.0), operand_d(b, den.1));
    let _ = masks;
    let flags = |ex: Exceptions| Flags {
        ex,
        c1: false,
        suppressed: false,
    };
    if oa == Operand::Unsupported || ob == Operand::Unsupported {
        return (Relation::Unordered, flags(Exceptions::IE));
    }
    if oa == Operand::NaN || ob == Operand::NaN {
        let ie = !quiet || a.is_snan() || b.is_snan();
        let ex = if ie { Exceptions::IE } else { Exceptions::NONE };
        return (Relation::Unordered, flags(ex));
    }
    let mut ex = Exceptions::NONE;
    if oa.is_denormal() || ob.is_denormal() {
        ex |= Exceptions::DE;
    }
    // Map each number onto a totally ordered key.
    fn key(o: Operand) -> (i8, i32, u64) {
        match o {
            Operand::Zero(_) => (0, 0, 0),
            Operand::Finite(u, _) => (if u.sign { -1 } else { 1 }, u.exp, u.sig),
            Operand::Inf(s) => (if s { -2 } else { 2 }, 0, 0),
            _ => (0, 0, 0),
        }
    }
    let (ka, kb) = (key(oa), key(ob));
    let rel = if ka.0 != kb.0 {
        if ka.0 < kb.0 {
            Relation::Less
        } else {
            Relation::Greater
        }
    } else {
        let mag = (ka.1, ka.2).cmp(&(kb.1, kb.2));
        let neg = ka.0 < 0;
        match (mag, neg) {
            (core::cmp::Ordering::Equal, _) => Relation::Equal,
            (core::cmp::Ordering::Less, false) | (core::cmp::Ordering::Greater, true) => {
                Relation::Less
            }
            _ => Relation::Greater,
        }
    };
    (rel, flags(ex))
}

/// `FTST`: compare ST(0) with +0.0 (NaNs raise #IA as for `FCOM`).
pub fn ftst(a: F80, masks: Exceptions) -> (Relation, Flags) {
    compare(a, F80::ZERO, false, masks)
}
