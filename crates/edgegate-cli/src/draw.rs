//! `edgegate draw`: checks the pre-queue draw as any citizen can. The seed must hash to the
//! commitment published before the opening, and a ticket's place is the first four bytes of
//! `SHA-256(seed ‖ ticket id)`, big-endian, smaller first. Written here from that rule alone,
//! without the gate's code, so it checks the gate rather than repeating it.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::cli::DrawArgs;
use crate::gate::{Failure, Gate};
use crate::output::{self, say};

const DRAW: &str = "/queue/draw";

pub fn run(gate: &Gate, args: &DrawArgs, json: bool) -> Result<(), Failure> {
    let ticket = args
        .ticket_id
        .as_deref()
        .map(|t| bytes::<16>(t, "--ticket-id"))
        .transpose()?;
    let (seed, commitment, published) = match &args.seed {
        Some(seed) => (Some(seed.clone()), args.commitment.clone(), None),
        None => {
            let answer = gate.public(DRAW, "the pre-queue draw")?;
            let text = |k: &str| answer.get(k).and_then(Value::as_str).map(str::to_owned);
            let commitment = args.commitment.clone().or_else(|| text("commitment"));
            (text("seed"), commitment, Some(answer))
        }
    };
    let seed = seed.map(|s| bytes::<32>(&s, "the seed")).transpose()?;
    let commitment = commitment
        .map(|c| bytes::<32>(&c, "the commitment"))
        .transpose()?;
    let matches = seed.zip(commitment).map(|(s, c)| sha256(&[&s]) == c);
    // The holder's own ticket, as the gate showed it, when none was named.
    let ticket = ticket.or_else(|| {
        let id = published.as_ref()?.pointer("/ticket/id")?.as_str()?;
        bytes::<16>(id, "the ticket id").ok()
    });
    let place = seed.zip(ticket).map(|(s, t)| place(&s, &t));
    if json {
        output::json(&json!({
            "commitment": commitment.map(|c| hex(&c)),
            "seed": seed.map(|s| hex(&s)),
            "seed_matches_commitment": matches,
            "ticket_id": ticket.map(|t| hex(&t)),
            "place": place,
        }));
    } else {
        match commitment {
            Some(c) => say(&format!("commitment  {}", hex(&c))),
            None => say("commitment  none published: no pre-queue draw is scheduled"),
        }
        match seed {
            Some(s) => say(&format!("seed        {}", hex(&s))),
            None => say("seed        not revealed yet: it is, at the opening"),
        }
        match matches {
            Some(true) => say("check       SHA-256(seed) is the commitment"),
            Some(false) => say("check       MISMATCH: SHA-256(seed) is not the commitment"),
            None => {}
        }
        if let (Some(t), Some(p)) = (ticket, place) {
            say(&format!(
                "ticket      {}: place {p} of 4294967296 (smaller goes first)",
                hex(&t)
            ));
        }
    }
    if matches == Some(false) {
        return Err(Failure {
            exit: crate::gate::Exit::Refused,
            message: "the seed does not match the commitment".into(),
            status: None,
            field: Some("seed".into()),
        });
    }
    Ok(())
}

/// A ticket's place: the first four bytes of SHA-256(seed ‖ id), big-endian.
fn place(seed: &[u8; 32], id: &[u8; 16]) -> u32 {
    let d = sha256(&[seed, id]);
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `N` bytes from hex text, or a usage error naming `what`.
fn bytes<const N: usize>(text: &str, what: &str) -> Result<[u8; N], Failure> {
    let text = text.trim();
    let bad = || Failure::usage(format!("{what} must be {} hex digits", 2 * N));
    if text.len() != 2 * N || !text.is_ascii() {
        return Err(bad());
    }
    let mut out = [0u8; N];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(text.get(2 * i..2 * i + 2).ok_or_else(bad)?, 16)
            .map_err(|_| bad())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_place_is_the_first_four_bytes_of_the_hash_of_seed_and_id() {
        // SHA-256 of 48 zero bytes is 17b0761f87b081d5...: place 0x17b0761f.
        assert_eq!(place(&[0; 32], &[0; 16]), 0x17b0_761f);
        assert_eq!(
            hex(&sha256(&[&[0u8; 32]])),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
    }

    #[test]
    fn hex_is_read_strictly() {
        assert_eq!(bytes::<2>("0aFF", "x").ok(), Some([0x0a, 0xff]));
        for bad in ["0a", "0aFF00", "zz00", "0a f"] {
            assert!(bytes::<2>(bad, "x").is_err(), "{bad:?}");
        }
    }
}
