//! The byte layout of every sealed record (access tokens, authorization codes, refresh
//! tokens): fixed-size fields in big-endian order, text after its length. One writer and one
//! reader, so the formats cannot differ in how they spell a field. The formats themselves (which
//! fields, in which order) stay with their types ([`crate::token`], [`crate::oauth::code`],
//! [`crate::oauth::refresh`]).

/// A record that ends early, has bytes left over or text that is not UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Malformed;

/// Text longer than its length prefix (or the format's limit) allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TooLong;

/// Appends fields to a record.
#[derive(Debug, Default)]
pub(crate) struct Writer(Vec<u8>);

impl Writer {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self(Vec::with_capacity(capacity))
    }

    /// Bytes written so far.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.extend_from_slice(bytes);
        self
    }

    pub(crate) fn u8(&mut self, value: u8) -> &mut Self {
        self.0.push(value);
        self
    }

    pub(crate) fn u32(&mut self, value: u32) -> &mut Self {
        self.bytes(&value.to_be_bytes())
    }

    pub(crate) fn u64(&mut self, value: u64) -> &mut Self {
        self.bytes(&value.to_be_bytes())
    }

    /// `text` after its length as one byte (at most 255 bytes).
    pub(crate) fn text8(&mut self, text: &str) -> Result<&mut Self, TooLong> {
        let len = u8::try_from(text.len()).map_err(|_| TooLong)?;
        Ok(self.u8(len).bytes(text.as_bytes()))
    }

    /// `text` after its length as two bytes (at most `max` bytes).
    pub(crate) fn text16(&mut self, text: &str, max: usize) -> Result<&mut Self, TooLong> {
        let len = u16::try_from(text.len())
            .ok()
            .filter(|&n| usize::from(n) <= max)
            .ok_or(TooLong)?;
        Ok(self.bytes(&len.to_be_bytes()).bytes(text.as_bytes()))
    }

    pub(crate) fn into_inner(self) -> Vec<u8> {
        self.0
    }
}

/// Reads fields off the front of a record.
#[derive(Debug)]
pub(crate) struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    pub(crate) fn new(record: &'a [u8]) -> Self {
        Self(record)
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if self.0.len() < n {
            return Err(Malformed);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], Malformed> {
        self.take(N)?.try_into().map_err(|_| Malformed)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Malformed> {
        let [byte] = self.array()?;
        Ok(byte)
    }

    pub(crate) fn u16(&mut self) -> Result<u16, Malformed> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Malformed> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, Malformed> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// `len` bytes of UTF-8.
    pub(crate) fn text(&mut self, len: usize) -> Result<String, Malformed> {
        std::str::from_utf8(self.take(len)?)
            .map(str::to_owned)
            .map_err(|_| Malformed)
    }

    /// Text after its length as one byte ([`Writer::text8`]).
    pub(crate) fn text8(&mut self) -> Result<String, Malformed> {
        let len = self.u8()?;
        self.text(usize::from(len))
    }

    /// Text after its length as two bytes ([`Writer::text16`]), refused when longer than
    /// `max`.
    pub(crate) fn text16(&mut self, max: usize) -> Result<String, Malformed> {
        let len = usize::from(self.u16()?);
        if len > max {
            return Err(Malformed);
        }
        self.text(len)
    }

    /// Whether the whole record was read: trailing bytes make it malformed.
    pub(crate) fn finish(self) -> Result<(), Malformed> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Malformed)
        }
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
