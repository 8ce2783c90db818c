//! A booking request, from raw fields to a stored booking: validation, the identity hash,
//! idempotency, and the call into the store. Shared by the HTML form and the JSON API.
//!
//! The person is identified by HMAC-SHA256 under `IDENTITY_KEY` of their normalised name and
//! birth date; neither is stored, so the database alone cannot say who booked.

use edgegate_core::keys::{hex, hmac_sha256};
use edgegate_core::Pass;

use crate::date::Date;
use crate::domain::{Booking, Centre, SlotId, DOSES};
use crate::lang::Lang;
use crate::store::{BookResult, Idempotency, NewBooking, Refusal, StoreError, Stored};
use crate::AppState;

/// Longest name accepted, in characters, after trimming.
pub(crate) const MAX_NAME_CHARS: usize = 60;
/// Longest idempotency key accepted, in bytes.
const MAX_KEY_LEN: usize = 200;
/// The earliest birth date accepted.
const EARLIEST_BIRTH: (u16, u8, u8) = (1900, 1, 1);

/// The booking fields, as received (form or JSON). A field of the wrong JSON type arrives as an
/// empty string, which every check refuses.
#[derive(Clone, Debug, Default)]
pub(crate) struct RawBooking {
    pub slot_id: Option<String>,
    pub name: Option<String>,
    pub birth_date: Option<String>,
    pub dose: Option<String>,
}

/// The field a validation error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    SlotId,
    Name,
    BirthDate,
    Dose,
}

impl Field {
    /// The field's name in forms and JSON.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Field::SlotId => "slot_id",
            Field::Name => "name",
            Field::BirthDate => "birth_date",
            Field::Dose => "dose",
        }
    }

    /// The message for a person, in the page's language.
    pub(crate) fn message(self, lang: Lang) -> &'static str {
        let t = lang.texts();
        match self {
            Field::SlotId => t.err_slot,
            Field::Name => t.err_name,
            Field::BirthDate => t.err_birth,
            Field::Dose => t.err_dose,
        }
    }

    /// The message for the JSON API (English).
    pub(crate) fn api_message(self) -> &'static str {
        match self {
            Field::SlotId => "slot_id must name a slot of a known centre within the next 14 days",
            Field::Name => {
                "name must be 1 to 60 characters after trimming, without control characters"
            }
            Field::BirthDate => {
                "birth_date must be a real date as YYYY-MM-DD, from 1900-01-01 to today"
            }
            Field::Dose => "dose must be an integer from 1 to 4",
        }
    }
}

impl Refusal {
    pub(crate) fn message(self, lang: Lang) -> &'static str {
        let t = lang.texts();
        match self {
            Refusal::UnknownSlot => t.err_slot,
            Refusal::SlotFull => t.err_slot_full,
            Refusal::AlreadyBooked => t.err_already_booked,
            Refusal::TicketUsed => t.err_ticket_used,
        }
    }

    pub(crate) fn api_message(self) -> &'static str {
        match self {
            Refusal::UnknownSlot => Field::SlotId.api_message(),
            Refusal::SlotFull => "this slot is fully booked; choose another",
            Refusal::AlreadyBooked => "this person has already booked this dose",
            Refusal::TicketUsed => "this pass (queue ticket) has already made a booking",
        }
    }

    pub(crate) fn code(self) -> &'static str {
        match self {
            Refusal::UnknownSlot => "unknown_slot",
            Refusal::SlotFull => "slot_full",
            Refusal::AlreadyBooked => "already_booked",
            Refusal::TicketUsed => "ticket_used",
        }
    }
}

/// A request that passed every check.
#[derive(Clone, Debug)]
pub(crate) struct ValidBooking {
    pub slot: SlotId,
    pub identity_hash: [u8; 32],
    pub dose: u8,
}

/// Checks the fields in form order and reports the first bad one.
pub(crate) fn validate(state: &AppState, raw: &RawBooking) -> Result<ValidBooking, Field> {
    let today = state.today();
    let slot = raw
        .slot_id
        .as_deref()
        .and_then(|s| SlotId::parse(s.trim()))
        .filter(|slot| slot.in_window(today) && state.store().centre(slot.centre_id).is_some())
        .ok_or(Field::SlotId)?;
    let name = raw.name.as_deref().map(str::trim).unwrap_or_default();
    let name_chars = name.chars().count();
    if name_chars == 0 || name_chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(Field::Name);
    }
    let earliest = Date::new(EARLIEST_BIRTH.0, EARLIEST_BIRTH.1, EARLIEST_BIRTH.2);
    let birth = raw
        .birth_date
        .as_deref()
        .and_then(|s| Date::parse(s.trim()))
        .filter(|d| Some(*d) >= earliest && *d <= today)
        .ok_or(Field::BirthDate)?;
    let dose = raw
        .dose
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<u8>().ok())
        .filter(|d| DOSES.contains(d))
        .ok_or(Field::Dose)?;
    Ok(ValidBooking {
        slot,
        identity_hash: identity_hash(state, name, birth),
        dose,
    })
}

/// The keyed hash that stands for a person: normalised name (whitespace collapsed, lowercase)
/// and birth date.
fn identity_hash(state: &AppState, name: &str, birth: Date) -> [u8; 32] {
    let normalised = name
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let message = format!("edgegate-origin identity v1\0{normalised}\0{birth}");
    hmac_sha256(state.identity_key().bytes(), message.as_bytes())
}

/// What makes two requests "the same" for an idempotency key: slot, person, dose.
fn request_hash(state: &AppState, valid: &ValidBooking) -> [u8; 32] {
    let message = format!(
        "edgegate-origin request v1\0{}\0{}\0{}",
        valid.slot,
        hex(&valid.identity_hash),
        valid.dose
    );
    hmac_sha256(state.identity_key().bytes(), message.as_bytes())
}

/// An idempotency key as clients may send it: 1 to 200 visible ASCII characters.
pub(crate) fn key_is_valid(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| b.is_ascii_graphic())
}

/// Where the answer is going; keys of the two never mix, since their answers differ.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Channel {
    Form,
    Api,
}

/// Books `valid` for `pass`, under an idempotency key if given. `render` turns the outcome into
/// the answer (and the store remembers it under the key when it returns `Some`).
pub(crate) async fn book<F>(
    state: &AppState,
    pass: &Pass,
    valid: &ValidBooking,
    key: Option<&str>,
    channel: Channel,
    render: F,
) -> Result<BookResult, StoreError>
where
    F: FnOnce(&Result<Booking, Refusal>) -> Option<Stored> + Send + 'static,
{
    let idempotency = key.map(|key| Idempotency {
        key: match channel {
            Channel::Form => format!("form:{key}"),
            Channel::Api => format!("api:{key}"),
        },
        request_hash: request_hash(state, valid),
    });
    let new = NewBooking {
        id: booking_id().map_err(StoreError::Io)?,
        slot: valid.slot,
        identity_hash: valid.identity_hash,
        dose: valid.dose,
        ticket_id: pass.ticket_id,
        created_at: state.now(),
    };
    let result = state.store().book(new, idempotency, render).await?;
    if let BookResult::Fresh {
        outcome: Ok(booking),
        ..
    } = &result
    {
        state.metrics().booked();
        tracing::info!(booking = %booking.id, slot = %booking.slot, dose = booking.dose, "booked");
    }
    Ok(result)
}

/// A fresh booking id: 80 random bits as 16 Crockford base32 characters (no I, L, O, U).
fn booking_id() -> Result<String, std::io::Error> {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut bytes = [0u8; 10];
    getrandom::fill(&mut bytes).map_err(std::io::Error::other)?;
    let value = bytes
        .iter()
        .fold(0u128, |acc, &b| (acc << 8) | u128::from(b));
    Ok((0..16u32)
        .rev()
        .map(|i| {
            let index = usize::from(u8::try_from((value >> (5 * i)) & 31).unwrap_or(0));
            char::from(*ALPHABET.get(index).unwrap_or(&b'0'))
        })
        .collect())
}

/// A fresh idempotency key for a rendered form: 128 random bits as hex.
pub(crate) fn form_key() -> Result<String, std::io::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(std::io::Error::other)?;
    Ok(hex(&bytes))
}

/// The centre a slot belongs to.
pub(crate) fn centre_of<'a>(state: &'a AppState, slot: &SlotId) -> Option<&'a Centre> {
    state.store().centre(slot.centre_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booking_ids_are_sixteen_unambiguous_characters() {
        let a = booking_id().unwrap();
        let b = booking_id().unwrap();
        assert_eq!(a.len(), 16);
        assert_ne!(a, b);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
        assert!(!a.contains(['I', 'L', 'O', 'U']));
    }

    #[test]
    fn idempotency_keys_are_short_visible_ascii() {
        assert!(key_is_valid("abc-123"));
        assert!(!key_is_valid(""));
        assert!(!key_is_valid("has space"));
        assert!(!key_is_valid(&"x".repeat(201)));
    }
}
