//! A client's network: what the gate budgets places by, binds passes to, and throttles
//! sign-in attempts by. An IPv6 client is its /64 (one household or phone is given a /64, and
//! can use any address in it), an IPv4 client its address (carrier NAT may put thousands of
//! phones behind one, which is why a budget beyond it costs work, never a refusal).
//!
//! The gate never keeps or sends an address in clear: a network is known by its [`NetTag`], a
//! keyed hash (the key is derived from the gate's secrets, `keys::ForNetworks`), so the counts
//! the coordinator keeps and the operator sees name no one.

use std::net::IpAddr;

use hmac::Mac;
use serde::{Deserialize, Serialize};

use crate::keys::{ForNetworks, Key};

/// A client network: an IPv4 address, or the first 64 bits of an IPv6 address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Network {
    V4([u8; 4]),
    V6([u8; 8]),
}

impl Network {
    /// The network of the address in `text` (as the platform writes it: `CF-Connecting-IP`), or
    /// `None` if it is not an address. An IPv4 address written as IPv6 (`::ffff:a.b.c.d`) is
    /// the IPv4 address.
    pub fn parse(text: &str) -> Option<Network> {
        let ip: IpAddr = text.trim().parse().ok()?;
        Some(match ip {
            IpAddr::V4(v4) => Network::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Network::V4(v4.octets()),
                None => {
                    let octets = v6.octets();
                    let mut prefix = [0u8; 8];
                    prefix.copy_from_slice(octets.first_chunk::<8>().map_or(&[0; 8], |p| p));
                    Network::V6(prefix)
                }
            },
        })
    }

    /// The network of a client at `text`, as [`Network::parse`], but `None` for the machine's
    /// own addresses (loopback, unspecified): no platform names a citizen by them, only a
    /// local setup's requests come from them, and those are one machine playing many
    /// citizens, which no budget should lump into one.
    pub fn of_client(text: &str) -> Option<Network> {
        let ip: IpAddr = text.trim().parse().ok()?;
        let own = ip.is_loopback()
            || ip.is_unspecified()
            || matches!(ip, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()));
        if own {
            return None;
        }
        Network::parse(text)
    }

    /// Is it an IPv4 address (budgeted more loosely: many phones may share it)?
    pub fn is_v4(self) -> bool {
        matches!(self, Network::V4(_))
    }

    /// Its tag under `key`.
    pub fn tag(self, key: &Key<ForNetworks>) -> NetTag {
        let mut mac = key.mac();
        match self {
            Network::V4(a) => {
                mac.update(b"4");
                mac.update(&a);
            }
            Network::V6(p) => {
                mac.update(b"6");
                mac.update(&p);
            }
        }
        let digest = mac.finalize().into_bytes();
        let mut first = [0u8; 8];
        first.copy_from_slice(digest.first_chunk::<8>().map_or(&[0; 8], |d| d));
        // The low bit says the family, so a budget can be told from the tag alone.
        let tag = u64::from_be_bytes(first) & !1;
        NetTag(tag | u64::from(self.is_v4()))
    }
}

/// A network as the gate knows it: a keyed hash, never the address. `NetTag(0)` is "no network
/// known" (a request without a client address, which only a local test setup sends).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct NetTag(pub u64);

impl NetTag {
    /// Is it an IPv4 address's tag?
    pub fn is_v4(self) -> bool {
        self.0 & 1 == 1
    }

    pub fn is_known(self) -> bool {
        self.0 != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretRing;

    fn key() -> Key<ForNetworks> {
        let ring =
            SecretRing::parse(&format!("1:{}", "ab".repeat(32))).unwrap_or_else(|e| panic!("{e}"));
        ring.network_keys()
            .unwrap_or_else(|e| panic!("{e}"))
            .signing()
            .clone()
    }

    #[test]
    fn an_ipv6_client_is_its_64_and_an_ipv4_client_its_address() {
        let a = Network::parse("2001:db8:1:2:aaaa::1").unwrap();
        let b = Network::parse("2001:db8:1:2:ffff:ffff:ffff:ffff").unwrap();
        let c = Network::parse("2001:db8:1:3::1").unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            Network::parse("::ffff:192.0.2.7"),
            Network::parse(" 192.0.2.7 ")
        );
        assert_ne!(Network::parse("192.0.2.7"), Network::parse("192.0.2.8"));
        for bad in ["", "example.org", "192.0.2.300", "::g", "1.2.3.4, 5.6.7.8"] {
            assert_eq!(Network::parse(bad), None, "{bad:?}");
        }
        // The machine's own addresses name no client.
        for own in [
            "127.0.0.1",
            "127.9.9.9",
            "::1",
            "0.0.0.0",
            "::",
            "::ffff:127.0.0.1",
        ] {
            assert_eq!(Network::of_client(own), None, "{own:?}");
        }
        assert_eq!(Network::of_client("192.0.2.7"), Network::parse("192.0.2.7"));
    }

    #[test]
    fn a_tag_names_no_address_and_says_its_family() {
        let key = key();
        let v4 = Network::parse("192.0.2.7").unwrap().tag(&key);
        let v6 = Network::parse("2001:db8::1").unwrap().tag(&key);
        assert!(v4.is_v4() && !v6.is_v4());
        assert!(v4.is_known() && v6.is_known());
        assert_eq!(Network::parse("192.0.2.7").unwrap().tag(&key), v4);
        assert_ne!(v4.0 >> 32, 0xC000_0207, "not the address itself");
    }
}
