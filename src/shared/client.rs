//! Who a request comes from (`edgegate_web::client`), read from a workers-rs request.

use edgegate_core::network::NetTag;
use worker::Request;

pub use edgegate_web::client::{network, PLATFORM_HEADER, TEST_HEADER};

use crate::shared::settings::Settings;

/// The network of `req`.
pub fn of_request(req: &Request, settings: &Settings) -> NetTag {
    let header = |name: &str| req.headers().get(name).ok().flatten();
    network(
        settings,
        header(PLATFORM_HEADER).as_deref(),
        header(TEST_HEADER).as_deref(),
    )
}
