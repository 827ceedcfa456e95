//! The snapshot's byte encoding, in one place: little-endian fixed-width integers,
//! `u8` 0/1 booleans, a `u8` tag before `Option`s and enum variants, a `u32`
//! length before sequences, and structures as their fields in declaration order.
//!
//! Hand-written rather than serde: the state values live in crates that should not
//! depend on a serialization framework (the pattern of building a device from its
//! state keeps them plain data), the encoding must be byte-identical on every host
//! including wasm32, and the [`record!`] macro lists every field of a state
//! structure, so adding a field without adding it here fails to compile.

use std::collections::VecDeque;

/// A snapshot that cannot be decoded: too short, or a value no saved machine has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

/// Appends encoded values.
#[derive(Default)]
pub struct Writer(pub Vec<u8>);

impl Writer {
    /// A byte string: its `u32` length, then the bytes (the same encoding as a
    /// `Vec<u8>`, written at once).
    pub fn put_bytes(&mut self, b: &[u8]) {
        (b.len() as u32).put(self);
        self.0.extend_from_slice(b);
    }
}

/// Reads encoded values, refusing to read past the end.
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Reads from the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| DecodeError(format!("ends {} bytes early", n)))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// A byte string written by [`Writer::put_bytes`] (or as a `Vec<u8>`).
    pub fn get_bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = get_len(self)?;
        self.take(n)
    }

    /// Whether every byte was consumed.
    pub fn at_end(&self) -> bool {
        self.pos == self.data.len()
    }
}

/// A value with a snapshot encoding.
pub trait Codec: Sized {
    /// Append the encoding.
    fn put(&self, w: &mut Writer);
    /// Decode one value.
    fn get(r: &mut Reader) -> Result<Self, DecodeError>;
}

macro_rules! int {
    ($($t:ty),*) => {$(
        impl Codec for $t {
            fn put(&self, w: &mut Writer) {
                w.0.extend_from_slice(&self.to_le_bytes());
            }
            fn get(r: &mut Reader) -> Result<Self, DecodeError> {
                let b = r.take(std::mem::size_of::<$t>())?;
                Ok(<$t>::from_le_bytes(b.try_into().expect("length taken")))
            }
        }
    )*};
}
int!(u8, u16, u32, u64, u128, i64);

impl Codec for bool {
    fn put(&self, w: &mut Writer) {
        w.0.push(u8::from(*self));
    }
    fn get(r: &mut Reader) -> Result<Self, DecodeError> {
        match u8::get(r)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(DecodeError(format!("{v} is not a boolean"))),
        }
    }
}

impl<T: Codec> Codec for Option<T> {
    fn put(&self, w: &mut Writer) {
        match self {
            None => w.0.push(0),
            Some(v) => {
                w.0.push(1);
                v.put(w);
            }
        }
    }
    fn get(r: &mut Reader) -> Result<Self, DecodeError> {
        match u8::get(r)? {
            0 => Ok(None),
            1 => Ok(Some(T::get(r)?)),
            v => Err(DecodeError(format!("{v} is not an option tag"))),
        }
    }
}

impl<T: Codec, const N: usize> Codec for [T; N] {
    fn put(&self, w: &mut Writer) {
        for v in self {
            v.put(w);
        }
    }
    fn get(r: &mut Reader) -> Result<Self, DecodeError> {
        let v = (0..N).map(|_| T::get(r)).collect::<Result<Vec<T>, _>>()?;
        v.try_into().map_err(|_| DecodeError("array length".into()))
    }
}

fn get_len(r: &mut Reader) -> Result<usize, DecodeError> {
    let n = u32::get(r)? as usize;
    // Every element takes at least a byte: a longer count is a corrupt file, and
    // refusing it here keeps a bad count from allocating gigabytes.
    if n > r.data.len() - r.pos {
        return Err(DecodeError(format!(
            "a sequence of {n} elements runs past the end"
        )));
    }
    Ok(n)
}

impl<T: Codec> Codec for Vec<T> {
    fn put(&self, w: &mut Writer) {
        (self.len() as u32).put(w);
        for v in self {
            v.put(w);
        }
    }
    fn get(r: &mut Reader) -> Result<Self, DecodeError> {
        let n = get_len(r)?;
        (0..n).map(|_| T::get(r)).collect()
    }
}

impl<T: Codec> Codec for VecDeque<T> {
    fn put(&self, w: &mut Writer) {
        (self.len() as u32).put(w);
        for v in self {
            v.put(w);
        }
    }
    fn get(r: &mut Reader) -> Result<Self, DecodeError> {
        let n = get_len(r)?;
        (0..n).map(|_| T::get(r)).collect()
    }
}

impl Codec for String {
    fn put(&self, w: &mut Writer) {
        self.as_bytes().to_vec().put(w);
    }
    fn get(r: &mut Reader) -> Result<Self, DecodeError> {
        String::from_utf8(Vec::<u8>::get(r)?)
            .map_err(|_| DecodeError("a string is not UTF-8".into()))
    }
}

impl<A: Codec, B: Codec> Codec for (A, B) {
    fn put(&self, w: &mut Writer) {
        self.0.put(w);
        self.1.put(w);
    }
    fn get(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok((A::get(r)?, B::get(r)?))
    }
}

/// `record!(Type { field, ... })`: the encoding of a structure with public
/// fields, every field listed (the struct literal does not compile otherwise).
macro_rules! record {
    ($t:ty { $($f:ident),* $(,)? }) => {
        impl $crate::snapshot::codec::Codec for $t {
            fn put(&self, w: &mut $crate::snapshot::codec::Writer) {
                $( $crate::snapshot::codec::Codec::put(&self.$f, w); )*
            }
            fn get(
                r: &mut $crate::snapshot::codec::Reader,
            ) -> Result<Self, $crate::snapshot::codec::DecodeError> {
                Ok(Self { $( $f: $crate::snapshot::codec::Codec::get(r)?, )* })
            }
        }
    };
}
pub(crate) use record;
