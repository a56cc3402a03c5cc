//! [`Digest`]: the SHA-256 of a configuration's bytes, its identity.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

/// The SHA-256 of a configuration file's bytes: with the generation, the identity of a
/// published version (in `explain`, the audit log, the metrics and `vexil watch`). Shown as
/// lowercase hex.
///
/// ```
/// let d = vexil::Digest::of(b"[features.a]\nenabled = true\n");
/// assert_eq!(d.to_string().len(), 64);
/// assert_eq!(d.to_string().parse::<vexil::Digest>(), Ok(d));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

impl Digest {
    /// The digest of some bytes (what a file holding them would be published as).
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(Sha256::digest(bytes).into())
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The lowercase hex form, shortened to its first `n` characters (at most 64), as logs
    /// and the live view show it.
    pub fn short(&self, n: usize) -> String {
        let mut s = self.to_string();
        s.truncate(n);
        s
    }
}

impl From<[u8; 32]> for Digest {
    fn from(bytes: [u8; 32]) -> Digest {
        Digest(bytes)
    }
}

impl From<&[u8; 32]> for Digest {
    fn from(bytes: &[u8; 32]) -> Digest {
        Digest(*bytes)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

/// A string that is not 64 hex digits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseDigestError;

impl fmt::Display for ParseDigestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a SHA-256 digest is 64 hex digits")
    }
}

impl std::error::Error for ParseDigestError {}

impl FromStr for Digest {
    type Err = ParseDigestError;

    fn from_str(s: &str) -> Result<Digest, ParseDigestError> {
        let s = s.as_bytes();
        if s.len() != 64 {
            return Err(ParseDigestError);
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
            let digit = |c: u8| (c as char).to_digit(16).ok_or(ParseDigestError);
            *byte = (digit(pair[0])? << 4 | digit(pair[1])?) as u8;
        }
        Ok(Digest(out))
    }
}
