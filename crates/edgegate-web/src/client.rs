//! Who a request comes from: the platform's `CF-Connecting-IP`, or, where the deployment allows
//! it (tests on loopback, `CLIENT_ADDRESS_HEADER = "on"`), the `X-Edgegate-Client-Address`
//! header, which lets one machine play many networks. Only as a network tag: never kept or sent
//! as an address (`edgegate_core::network`).

use edgegate_core::network::{NetTag, Network};

use crate::settings::Settings;

/// The platform's header naming the client's address.
pub const PLATFORM_HEADER: &str = "cf-connecting-ip";
/// The header that names it where the deployment allows (tests only).
pub const TEST_HEADER: &str = "x-edgegate-client-address";

/// The network of a request that came with `platform` (`CF-Connecting-IP`) and `named`
/// (`X-Edgegate-Client-Address`) headers; `NetTag(0)` if neither names a client's address (a
/// loopback address names none: `Network::of_client`).
pub fn network(settings: &Settings, platform: Option<&str>, named: Option<&str>) -> NetTag {
    let named = named.filter(|_| settings.client_address_header);
    named
        .or(platform)
        .and_then(Network::of_client)
        .map_or(NetTag(0), |n| n.tag(settings.network_keys.signing()))
}

/// The address to tell the origin the request came from (`X-Forwarded-For`): the one
/// [`network`] reads, as the platform or the test header wrote it, if it is an address.
pub fn address<'a>(
    settings: &Settings,
    platform: Option<&'a str>,
    named: Option<&'a str>,
) -> Option<&'a str> {
    let named = named.filter(|_| settings.client_address_header);
    named
        .or(platform)
        .map(str::trim)
        .filter(|a| Network::parse(a).is_some())
}
