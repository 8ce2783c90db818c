//! A tiny fixed-layout byte reader and writer for token payloads.
//!
//! The reader never indexes and never panics: every read returns `None` when the input is short,
//! and `finish` insists the input is used up, so trailing bytes are an error, not ignored.

pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, tail) = self.rest.split_first_chunk::<N>()?;
        self.rest = tail;
        Some(*head)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| b)
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.array::<8>().map(u64::from_be_bytes)
    }

    /// `Some(())` only if every byte was read.
    pub(crate) fn finish(self) -> Option<()> {
        self.rest.is_empty().then_some(())
    }
}

#[derive(Default)]
pub(crate) struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Writer {
            bytes: Vec::with_capacity(n),
        }
    }

    pub(crate) fn u8(mut self, b: u8) -> Self {
        self.bytes.push(b);
        self
    }

    pub(crate) fn u64(mut self, v: u64) -> Self {
        self.bytes.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub(crate) fn bytes(mut self, b: &[u8]) -> Self {
        self.bytes.extend_from_slice(b);
        self
    }

    pub(crate) fn into_vec(self) -> Vec<u8> {
        self.bytes
    }
}
