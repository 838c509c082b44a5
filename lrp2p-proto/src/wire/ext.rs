//! Segment extensions: the TLVs between a segment's fixed header and its data offset.
//!
//! ```text
//! fixed header (6 or 9 B)  extensions ........................................ data_offset
//! +-----------------------+---------+--------+-------------------+---------+----- ... -+
//! | data_offset|flags|seq | type u8 | len u8 | value (len bytes) | type u8 | ...       |
//! +-----------------------+---------+--------+-------------------+---------+----- ... -+
//! ```
//!
//! Defined in v1 (meaningful on ACK segments only; on DATA and CLOSE segments they are skipped):
//! - `0x00` PADDING: value ignored (a normal TLV: type, len, value).
//! - `0x01` SACK: `1..=30` ranges `start u32 | end u32`, `len = 8·k` (see [`super::SackRanges`]).
//! - `0x02` ACK_DELAY: `u32` microseconds the ACK was held.
//! - `0x03` DSACK: `1..=4` ranges of sequence numbers received twice (see [`super::DsackRanges`]).
//! - `0x04` ACK_ECHO: the packet counters received (see [`super::AckEcho`]).
//!
//! Defined for DATA segments (skipped on ACK and CLOSE segments):
//! - `0x05` APP_PROTOCOL: the initiator's application protocol id, 1 to 32 bytes, on its first
//!   DATA segment (see [`super::DataRepr`]).
//!
//! Unknown types are skipped. A TLV that runs past `data_offset` is malformed.

use super::DecodeError;

/// Extension type 0x00: padding; the value is ignored.
pub const EXT_PADDING: u8 = 0x00;
/// Extension type 0x01: selective acknowledgement ranges (ACK segments only).
pub const EXT_SACK: u8 = 0x01;
/// Extension type 0x02: ACK delay in microseconds, a `u32` (ACK segments only).
pub const EXT_ACK_DELAY: u8 = 0x02;
/// Extension type 0x03: duplicate sequence numbers received (ACK segments only).
pub const EXT_DSACK: u8 = 0x03;
/// Extension type 0x04: the packet counters the ACK's sender received (ACK segments only).
pub const EXT_ACK_ECHO: u8 = 0x04;
/// Extension type 0x05: the initiator's application protocol id (DATA segments only).
pub const EXT_APP_PROTOCOL: u8 = 0x05;

/// One extension TLV, borrowed from the segment it was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extension<'a> {
    /// The type byte (`EXT_*`; unknown values are legal and skipped by the `Repr`s).
    pub kind: u8,
    /// The value bytes (`len` of them).
    pub value: &'a [u8],
}

/// Iterator over the extension TLVs of one segment header.
///
/// Yields `Err(DecodeError::BadExtension)` once if a TLV runs past the end of the extension
/// area (including a lone type byte without its length), then stops.
#[derive(Clone, Debug)]
pub struct Extensions<'a> {
    rest: &'a [u8],
}

impl<'a> Extensions<'a> {
    /// Iterates over `area`, the bytes from the end of the fixed header up to `data_offset`.
    pub(crate) const fn new(area: &'a [u8]) -> Self {
        Extensions { rest: area }
    }
}

impl<'a> Iterator for Extensions<'a> {
    type Item = Result<Extension<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let parsed = self.rest.split_first_chunk::<2>().and_then(|(&[kind, len], after)| {
            after.split_at_checked(usize::from(len)).map(|(value, rest)| (Extension { kind, value }, rest))
        });
        match parsed {
            Some((ext, rest)) => {
                self.rest = rest;
                Some(Ok(ext))
            }
            None => {
                // PROTOCOL §5: a TLV that runs past data_offset is malformed.
                self.rest = &[];
                Some(Err(DecodeError::BadExtension))
            }
        }
    }
}

/// Checks that the TLVs of an extension area are well formed, ignoring their contents
/// (DATA and CLOSE segments skip every extension, known or not).
pub(crate) fn check_all(exts: Extensions<'_>) -> Result<(), DecodeError> {
    for ext in exts {
        ext?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterates_and_skips_values() {
        let area = [0x00, 0x01, 0xff, 0x7f, 0x00, 0x02, 0x02, 0xaa, 0xbb];
        let got: Vec<_> = Extensions::new(&area).collect();
        assert_eq!(
            got,
            [
                Ok(Extension { kind: EXT_PADDING, value: &[0xff] }),
                Ok(Extension { kind: 0x7f, value: &[] }),
                Ok(Extension { kind: EXT_ACK_DELAY, value: &[0xaa, 0xbb] }),
            ]
        );
    }

    #[test]
    fn overrun_is_malformed_once() {
        for area in [&[0x01][..], &[0x01, 0x02, 0x00], &[0x00, 0x00, 0x05]] {
            let mut it = Extensions::new(area);
            let mut errors = 0;
            for ext in it.by_ref() {
                if ext.is_err() {
                    errors += 1;
                }
            }
            assert_eq!(errors, 1, "{area:?}");
            assert!(it.next().is_none());
        }
        assert_eq!(check_all(Extensions::new(&[0x00, 0x00])), Ok(()));
    }
}
