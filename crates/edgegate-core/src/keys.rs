//! Keys, typed by purpose.
//!
//! One operator secret per key id derives two unrelated keys by HMAC-based key separation: a
//! ticket key (only the gate holds it) and a pass key (the gate and the origin hold it, so the
//! origin can verify passes but can never mint a ticket). A [`KeyRing`] lists keys newest first:
//! the newest signs, every listed key verifies, and dropping a key from the list retires it.
//! `Debug` never prints key material.

use std::fmt;
use std::marker::PhantomData;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// Length of every derived key and of every secret we generate, in bytes.
pub const KEY_LEN: usize = 32;
/// The shortest secret we accept, in bytes: anything shorter is a configuration mistake.
pub const MIN_SECRET_LEN: usize = 16;

/// A key id: the byte each token carries so the verifier knows which key signed it.
pub type KeyId = u8;

/// The operator's secret for one key id. Never printed.
#[derive(Clone)]
pub struct Secret {
    id: KeyId,
    bytes: Vec<u8>,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret {{ id: {}, bytes: <redacted> }}", self.id)
    }
}

impl Secret {
    pub fn new(id: KeyId, bytes: Vec<u8>) -> Result<Secret, KeyError> {
        if bytes.len() < MIN_SECRET_LEN {
            return Err(KeyError::TooShort { id });
        }
        Ok(Secret { id, bytes })
    }

    pub fn id(&self) -> KeyId {
        self.id
    }

    fn derive<P: Purpose>(&self) -> Key<P> {
        Key::from_bytes(self.id, hmac_sha256(&self.bytes, P::LABEL.as_bytes()))
    }

    pub fn ticket_key(&self) -> TicketKey {
        self.derive()
    }

    pub fn pass_key(&self) -> PassKey {
        self.derive()
    }
}

/// What a key is for. Sealed: only tickets and passes.
pub trait Purpose: sealed::Sealed {
    /// The key-separation label: the HMAC message that derives this purpose's key from a secret.
    const LABEL: &'static str;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::ForTickets {}
    impl Sealed for super::ForPasses {}
    impl Sealed for super::ForTestKeys {}
    impl Sealed for super::ForNetworks {}
}

#[derive(Clone, Copy, Debug)]
pub enum ForTickets {}
#[derive(Clone, Copy, Debug)]
pub enum ForPasses {}

#[derive(Clone, Copy, Debug)]
pub enum ForTestKeys {}
/// Keys that turn a client's network into a tag that names no address (`network`).
#[derive(Clone, Copy, Debug)]
pub enum ForNetworks {}

impl Purpose for ForNetworks {
    const LABEL: &'static str = "edgegate v1 network key";
}

impl Purpose for ForTestKeys {
    const LABEL: &'static str = "edgegate v1 test key";
}

impl Purpose for ForTickets {
    const LABEL: &'static str = "edgegate v1 ticket key";
}
impl Purpose for ForPasses {
    const LABEL: &'static str = "edgegate v1 pass key";
}

/// A 256-bit MAC key for one purpose and one key id.
#[derive(Clone)]
pub struct Key<P> {
    id: KeyId,
    bytes: [u8; KEY_LEN],
    /// HMAC's state with the key already absorbed (its inner and outer pads): each token then
    /// costs a clone, not two more SHA-256 blocks.
    keyed: HmacSha256,
    purpose: PhantomData<P>,
}

pub type TicketKey = Key<ForTickets>;
pub type PassKey = Key<ForPasses>;
pub type TestKeyKey = Key<ForTestKeys>;

impl<P> fmt::Debug for Key<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key {{ id: {}, bytes: <redacted> }}", self.id)
    }
}

impl<P> Key<P> {
    pub fn from_bytes(id: KeyId, bytes: [u8; KEY_LEN]) -> Self {
        Key {
            id,
            keyed: keyed_mac(&bytes),
            bytes,
            purpose: PhantomData,
        }
    }

    pub fn id(&self) -> KeyId {
        self.id
    }

    pub(crate) fn mac(&self) -> HmacSha256 {
        self.keyed.clone()
    }
}

/// Keys of one purpose, newest first. Never empty.
#[derive(Clone, Debug)]
pub struct KeyRing<P> {
    newest: Key<P>,
    older: Vec<Key<P>>,
}

impl<P> KeyRing<P> {
    pub fn new(newest: Key<P>, older: Vec<Key<P>>) -> Self {
        KeyRing { newest, older }
    }

    /// The key that signs new tokens.
    pub fn signing(&self) -> &Key<P> {
        &self.newest
    }

    /// The key with this id, if the ring still lists it.
    pub fn get(&self, id: KeyId) -> Option<&Key<P>> {
        std::iter::once(&self.newest)
            .chain(&self.older)
            .find(|k| k.id == id)
    }

    fn iter(&self) -> impl Iterator<Item = &Key<P>> {
        std::iter::once(&self.newest).chain(&self.older)
    }
}

impl KeyRing<ForPasses> {
    /// Parses the origin's `PASS_KEYS` form: `id:hex[,id:hex…]`, newest first, 32-byte keys.
    pub fn parse_pass_keys(text: &str) -> Result<Self, KeyError> {
        let mut keys = parse_list(text)?.into_iter().map(|(id, bytes)| {
            let bytes: [u8; KEY_LEN] =
                bytes.try_into().map_err(|_| KeyError::WrongLength { id })?;
            Ok(PassKey::from_bytes(id, bytes))
        });
        let newest = keys.next().ok_or(KeyError::Empty)??;
        let older = keys.collect::<Result<Vec<_>, _>>()?;
        Ok(KeyRing::new(newest, older))
    }

    /// The `PASS_KEYS` text for this ring (for handing the origin its keys). Contains key material.
    pub fn to_env_text(&self) -> String {
        self.iter()
            .map(|k| format!("{}:{}", k.id, hex(&k.bytes)))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The gate's secrets, newest first: the source of both key rings.
#[derive(Clone, Debug)]
pub struct SecretRing {
    secrets: Vec<Secret>,
}

impl SecretRing {
    /// Parses the gate's `GATE_KEYS` form: `id:hex[,id:hex…]`, newest first, each secret at least
    /// 16 bytes. Key ids must be distinct.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let secrets = parse_list(text)?
            .into_iter()
            .map(|(id, bytes)| Secret::new(id, bytes))
            .collect::<Result<Vec<_>, _>>()?;
        if secrets.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(SecretRing { secrets })
    }

    fn ring<P: Purpose>(&self) -> Result<KeyRing<P>, KeyError> {
        let mut keys = self.secrets.iter().map(Secret::derive::<P>);
        let newest = keys.next().ok_or(KeyError::Empty)?;
        Ok(KeyRing::new(newest, keys.collect()))
    }

    pub fn ticket_keys(&self) -> Result<KeyRing<ForTickets>, KeyError> {
        self.ring()
    }

    pub fn pass_keys(&self) -> Result<KeyRing<ForPasses>, KeyError> {
        self.ring()
    }

    pub fn test_keys(&self) -> Result<KeyRing<ForTestKeys>, KeyError> {
        self.ring()
    }

    pub fn network_keys(&self) -> Result<KeyRing<ForNetworks>, KeyError> {
        self.ring()
    }
}

/// Why a key list was refused. Names the key id, never the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyError {
    Empty,
    Malformed { entry: usize },
    DuplicateId { id: KeyId },
    TooShort { id: KeyId },
    WrongLength { id: KeyId },
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Empty => write!(f, "no keys listed"),
            KeyError::Malformed { entry } => {
                write!(f, "entry {entry} is not of the form <id 0-255>:<hex>")
            }
            KeyError::DuplicateId { id } => write!(f, "key id {id} is listed twice"),
            KeyError::TooShort { id } => {
                write!(f, "secret {id} is shorter than {MIN_SECRET_LEN} bytes")
            }
            KeyError::WrongLength { id } => write!(f, "key {id} is not {KEY_LEN} bytes"),
        }
    }
}

impl std::error::Error for KeyError {}

fn parse_list(text: &str) -> Result<Vec<(KeyId, Vec<u8>)>, KeyError> {
    let mut out: Vec<(KeyId, Vec<u8>)> = Vec::new();
    for (entry, part) in text.split(',').map(str::trim).enumerate() {
        let (id, hex_text) = part.split_once(':').ok_or(KeyError::Malformed { entry })?;
        let id: KeyId = id
            .trim()
            .parse()
            .map_err(|_| KeyError::Malformed { entry })?;
        let bytes = unhex(hex_text.trim()).ok_or(KeyError::Malformed { entry })?;
        if out.iter().any(|(seen, _)| *seen == id) {
            return Err(KeyError::DuplicateId { id });
        }
        out.push((id, bytes));
    }
    Ok(out)
}

/// HMAC-SHA256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; KEY_LEN] {
    let mut mac = keyed_mac(key);
    mac.update(message);
    mac.finalize().into_bytes().into()
}

fn keyed_mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length, so `new_from_slice` cannot fail; the fallback only keeps
    // this function total (no panic on any path).
    <HmacSha256 as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| <HmacSha256 as hmac::digest::KeyInit>::new(&Default::default()))
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes from hex text; `None` on odd length or a non-hex character.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    // Digit by digit: `u8::from_str_radix` would also take a leading `+`.
    let digit = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    text.as_bytes()
        .chunks_exact(2)
        .map(|pair| match pair {
            [hi, lo] => Some(digit(*hi)? << 4 | digit(*lo)?),
            _ => None,
        })
        .collect()
}

/// Identifies a room inside tokens: the first 8 bytes of SHA-256 over the room's name. A token
/// for another room carries another tag and is refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RoomTag(pub [u8; 8]);

impl RoomTag {
    pub fn of(room_name: &str) -> RoomTag {
        let digest = Sha256::new()
            .chain_update(b"edgegate room\0")
            .chain_update(room_name.as_bytes())
            .finalize();
        let mut tag = [0u8; 8];
        tag.copy_from_slice(digest.get(..8).unwrap_or(&[0u8; 8]));
        RoomTag(tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_case_2() {
        // RFC 4231, test case 2: key "Jefe", data "what do ya want for nothing?".
        let tag = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex(&tag),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn ticket_and_pass_keys_differ_and_debug_is_redacted() {
        let secret = Secret::new(1, vec![7u8; 32]).unwrap();
        assert_ne!(secret.ticket_key().bytes, secret.pass_key().bytes);
        let shown = format!(
            "{:?} {:?} {:?}",
            secret,
            secret.ticket_key(),
            secret.pass_key()
        );
        assert!(!shown.contains("7, 7"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn key_lists_parse_and_refuse_mistakes() {
        let ring = SecretRing::parse(
            "2:00112233445566778899aabbccddeeff, 1:ffeeddccbbaa99887766554433221100",
        )
        .unwrap();
        assert_eq!(ring.ticket_keys().unwrap().signing().id(), 2);
        assert!(ring.pass_keys().unwrap().get(1).is_some());
        assert!(ring.pass_keys().unwrap().get(3).is_none());
        assert_eq!(
            SecretRing::parse("").unwrap_err(),
            KeyError::Malformed { entry: 0 }
        );
        assert_eq!(
            SecretRing::parse("1:abcd").unwrap_err(),
            KeyError::TooShort { id: 1 }
        );
        assert_eq!(
            SecretRing::parse("1:zz").unwrap_err(),
            KeyError::Malformed { entry: 0 }
        );
        let long = "00112233445566778899aabbccddeeff";
        assert_eq!(
            SecretRing::parse(&format!("1:{long},1:{long}")).unwrap_err(),
            KeyError::DuplicateId { id: 1 }
        );
        assert_eq!(
            SecretRing::parse("300:00").unwrap_err(),
            KeyError::Malformed { entry: 0 }
        );
    }

    #[test]
    fn pass_keys_round_trip_through_env_text() {
        let secrets = SecretRing::parse("2:00112233445566778899aabbccddeeff").unwrap();
        let ring = secrets.pass_keys().unwrap();
        let text = ring.to_env_text();
        let back = KeyRing::parse_pass_keys(&text).unwrap();
        assert_eq!(back.signing().bytes, ring.signing().bytes);
        assert_eq!(back.signing().id(), 2);
        assert_eq!(
            KeyRing::parse_pass_keys("1:00").unwrap_err(),
            KeyError::WrongLength { id: 1 }
        );
    }

    #[test]
    fn room_tags_differ_by_name() {
        assert_ne!(RoomTag::of("booking"), RoomTag::of("booking2"));
        assert_eq!(RoomTag::of("booking"), RoomTag::of("booking"));
    }
}
