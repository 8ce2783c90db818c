"""Verifies edgegate's Gate-Pass header in a Python origin, with the standard library only.

The gate sets `Gate-Pass` on every request it lets through to the origin; this module turns that
header's text into a trusted `Pass`, or refuses it with the reason the Rust core would give
(docs/PASS.md is the specification, crates/edgegate-core/tests/vectors.json the conformance
suite). It also carries a WSGI and an ASGI middleware that answer 401 to a request without
exactly one valid pass. Copy this one file into your project; it has no dependency.

    from edgegate_pass import GatePassWSGI, parse_pass_keys
    app = GatePassWSGI(app, keys=parse_pass_keys(os.environ["PASS_KEYS"]), room="booking")
    # in a view: environ["edgegate.pass"].ticket_id identifies the citizen's place in line
"""

import base64
import hashlib
import hmac
import re
import time
from typing import Callable, Dict, Mapping, NamedTuple, Optional, Tuple, Union

# Why a pass was refused: the names of the Rust core's `TokenError`. For logs and tests only;
# every one of them means "no pass".
TOO_LONG, NOT_BASE64, WRONG_LENGTH = "TooLong", "NotBase64", "WrongLength"
UNKNOWN_VERSION, WRONG_KIND, UNKNOWN_KEY, BAD_MAC = "UnknownVersion", "WrongKind", "UnknownKey", "BadMac"
WRONG_ROOM, EXPIRED, FROM_THE_FUTURE = "WrongRoom", "Expired", "FromTheFuture"

MAX_TOKEN_BYTES = 160  # longer text is refused before decoding
MAX_SKEW_MS = 30_000  # how far in the future a pass's issue time may lie
ORIGIN_EXPIRY_GRACE_MS = 30_000  # the middlewares accept a pass this long after its expiry
KIND_PASS = ord("P")
TAG_LEN = 32
U64_MAX = 2**64 - 1

# Pass layouts by version byte: the fields after the 3-byte header (version, kind, key id) and
# before the 32-byte HMAC tag, as (name, size in bytes, "bytes" | "u64" big-endian). A new pass
# version is one more row here, plus the checks its new fields need in `_scope` and the values
# an older pass reads as in `_V1_DEFAULTS`.
_V1_FIELDS = (("room_tag", 8, "bytes"), ("ticket_id", 16, "bytes"),
              ("issued_at", 8, "u64"), ("expires_at", 8, "u64"))
LAYOUTS: Dict[int, Tuple[Tuple[str, int, str], ...]] = {
    1: _V1_FIELDS,
    # ends_at: the session's absolute end; ticket_issued_at: when the place in line was taken;
    # home_network, away_network: the gate's tags of the client networks the pass is good from,
    # opaque here (keyed with a secret the origin never holds) and checked by the gate itself.
    2: _V1_FIELDS + (("ends_at", 8, "u64"), ("ticket_issued_at", 8, "u64"),
                     ("home_network", 8, "bytes"), ("away_network", 8, "bytes")),
}
# What a version-1 pass reads as for the fields it lacks, as the core reads it: it ends when it
# expires, its ticket issued when it was, bound to no network.
_V1_DEFAULTS = (("ends_at", "expires_at"), ("ticket_issued_at", "issued_at"))
_NO_NETWORK = bytes(8)
# The layout an unknown version byte is measured against: on its length the version is what is
# wrong (UnknownVersion), on any other length the length is (WrongLength), as the core does.
FALLBACK_VERSION = 1

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


class PassRefused(Exception):
    """The text is no pass. `reason` is one of the names above."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Pass(NamedTuple):
    """A verified pass. `fields` holds every field of the newest layout by name (times are unix
    ms; a version-1 pass reads as ending when it expires, its ticket issued when it was, and
    network tags of zeros). The network tags are the gate's to check."""

    version: int
    key_id: int
    fields: Mapping[str, Union[int, bytes]]

    @property
    def ticket_id(self) -> bytes:
        """16 bytes: the place in line this pass was earned by; stable across renewals."""
        return self.fields["ticket_id"]  # type: ignore[return-value]

    @property
    def issued_at(self) -> int:
        return self.fields["issued_at"]  # type: ignore[return-value]

    @property
    def expires_at(self) -> int:
        """The idle end: a renewed pass has a later one, never past `ends_at`."""
        return self.fields["expires_at"]  # type: ignore[return-value]

    @property
    def ends_at(self) -> int:
        """The session's absolute end: no pass for this session is good after it."""
        return self.fields["ends_at"]  # type: ignore[return-value]

    @property
    def ticket_issued_at(self) -> int:
        """When the place in line this pass was earned by was taken; stable across renewals."""
        return self.fields["ticket_issued_at"]  # type: ignore[return-value]


def parse_pass_keys(text: str) -> Dict[int, bytes]:
    """PASS_KEYS (`id:hex[,id:hex…]`, newest first, as `edgegate-origin derive-pass-keys`
    prints it) → {key id: 32-byte key}. Raises ValueError naming the entry, never a key."""
    keys: Dict[int, bytes] = {}
    for entry, part in enumerate(text.split(",")):
        key_id, colon, hex_text = part.strip().partition(":")
        key_id, hex_text = key_id.strip(), hex_text.strip()
        # Rust's integer parser, which the gate's own reader uses, takes one leading '+'.
        if not colon or not re.fullmatch(r"\+?[0-9]+", key_id) or int(key_id) > 255:
            raise ValueError(f"PASS_KEYS entry {entry} is not of the form <id 0-255>:<hex>")
        if not re.fullmatch(r"[0-9A-Fa-f]{64}", hex_text):
            raise ValueError(f"PASS_KEYS key {int(key_id)} is not 32 bytes of hex")
        if int(key_id) in keys:
            raise ValueError(f"PASS_KEYS key id {int(key_id)} is listed twice")
        keys[int(key_id)] = bytes.fromhex(hex_text)
    return keys


def room_tag(room: str) -> bytes:
    """The 8 bytes a pass carries for its room: SHA-256 over "edgegate room", a zero byte and the
    room's name in UTF-8, cut to 8 bytes."""
    return hashlib.sha256(b"edgegate room\x00" + room.encode("utf-8")).digest()[:8]


def _decode(text: str) -> bytes:
    """Strict unpadded base64url. Python's decoders take padding, both alphabets and dropped
    characters, and ignore the unused bits of the last character; the core takes none of that,
    so the alphabet is checked first and the decoded bytes must encode back to the exact text."""
    if not _BASE64URL.fullmatch(text) or len(text) % 4 == 1:
        raise PassRefused(NOT_BASE64)
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != text:
        raise PassRefused(NOT_BASE64)
    return raw


def _scope(fields: Mapping[str, Union[int, bytes]], room: bytes, now: int) -> None:
    if fields["room_tag"] != room:
        raise PassRefused(WRONG_ROOM)
    # In scope until the earlier of its idle end and its session's end.
    if now >= min(fields["expires_at"], fields["ends_at"]):  # type: ignore[type-var,operator]
        raise PassRefused(EXPIRED)
    if fields["issued_at"] > min(now + MAX_SKEW_MS, U64_MAX):  # type: ignore[operator]
        raise PassRefused(FROM_THE_FUTURE)


def verify_pass(text: str, keys: Mapping[int, bytes], room: str, now: int,
                expiry_grace_ms: int = 0) -> Pass:
    """Turns Gate-Pass text into a Pass for `room` at `now` (unix ms), or raises PassRefused.
    The checks and their order are the core's: size, base64, length, version, kind, key id,
    MAC, room, expiry, issue time. `expiry_grace_ms` accepts a pass that expired that long ago,
    as the reference origin does for clock skew (the middlewares pass 30 s)."""
    if not isinstance(text, str):
        raise PassRefused(NOT_BASE64)
    # The core counts UTF-8 bytes; a pass is ASCII, so for a real one bytes are characters.
    if len(text) > MAX_TOKEN_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_TOKEN_BYTES:
        raise PassRefused(TOO_LONG)
    raw = _decode(text)
    version = raw[0] if raw and raw[0] in LAYOUTS else FALLBACK_VERSION
    layout = LAYOUTS[version]
    payload_len = 3 + sum(size for _, size, _ in layout)
    if len(raw) != payload_len + TAG_LEN:
        raise PassRefused(WRONG_LENGTH)
    if raw[0] != version:
        raise PassRefused(UNKNOWN_VERSION)
    if raw[1] != KIND_PASS:
        raise PassRefused(WRONG_KIND)
    key = keys.get(raw[2])
    if key is None:
        raise PassRefused(UNKNOWN_KEY)
    payload, tag = raw[:payload_len], raw[payload_len:]
    # Constant time over the full 32 bytes: never `==` on a MAC.
    if not hmac.compare_digest(hmac.new(key, payload, hashlib.sha256).digest(), tag):
        raise PassRefused(BAD_MAC)
    fields: Dict[str, Union[int, bytes]] = {}
    at = 3
    for name, size, kind in layout:
        chunk = payload[at:at + size]
        fields[name] = int.from_bytes(chunk, "big") if kind == "u64" else chunk
        at += size
    if version == 1:
        for name, same_as in _V1_DEFAULTS:
            fields[name] = fields[same_as]
        fields["home_network"] = fields["away_network"] = _NO_NETWORK
    wanted = room_tag(room)
    try:
        _scope(fields, wanted, now)
    except PassRefused as refused:
        if refused.reason != EXPIRED or expiry_grace_ms <= 0:
            raise
        _scope(fields, wanted, max(now - expiry_grace_ms, 0))
    return Pass(version, raw[2], fields)


# What the origin can tell the gate, as a response header (docs/PASS.md, "Telling the gate").
END_SESSION = ("Gate-Session", "end")

_REFUSAL = b"401: a valid Gate-Pass is required (this site opens only through the waiting room)\n"
_REFUSAL_HEADERS = [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")]


class _Guard:
    """What both middlewares share: the keys, the room, the clock, and the verdict."""

    def __init__(self, keys: Mapping[int, bytes], room: str,
                 clock: Optional[Callable[[], int]] = None,
                 expiry_grace_ms: int = ORIGIN_EXPIRY_GRACE_MS):
        if not keys:
            raise ValueError("no pass keys")
        self.keys, self.room, self.grace = dict(keys), room, expiry_grace_ms
        self.clock = clock or (lambda: time.time_ns() // 1_000_000)

    def check(self, values: list) -> Union[Pass, str]:
        """The one Gate-Pass value verified, or the reason there is none. Two count as none."""
        if len(values) != 1:
            return "Missing" if not values else "Repeated"
        try:
            return verify_pass(values[0].strip(" \t"), self.keys, self.room, self.clock(), self.grace)
        except PassRefused as refused:
            return refused.reason
        except Exception:  # a verifier bug must still refuse, never answer 500
            return "Error"


class GatePassWSGI(_Guard):
    """WSGI middleware: 401 without exactly one valid Gate-Pass; otherwise the Pass goes into
    `environ["edgegate.pass"]`. Servers fold repeated headers into one value joined by commas,
    and a comma is no base64url character, so two headers are refused here too."""

    def __init__(self, app, keys, room, clock=None, expiry_grace_ms=ORIGIN_EXPIRY_GRACE_MS):
        super().__init__(keys, room, clock, expiry_grace_ms)
        self.app = app

    def __call__(self, environ, start_response):
        value = environ.get("HTTP_GATE_PASS")
        verdict = self.check([] if value is None else [value])
        if not isinstance(verdict, Pass):
            start_response("401 Unauthorized", _REFUSAL_HEADERS + [("Content-Length", str(len(_REFUSAL)))])
            return [_REFUSAL]
        environ["edgegate.pass"] = verdict
        return self.app(environ, start_response)


class GatePassASGI(_Guard):
    """ASGI middleware for HTTP and WebSocket scopes: 401 (a refused handshake for WebSocket)
    without exactly one valid Gate-Pass; otherwise the Pass goes into `scope["edgegate.pass"]`.
    ASGI keeps repeated headers apart, so two are counted as two."""

    def __init__(self, app, keys, room, clock=None, expiry_grace_ms=ORIGIN_EXPIRY_GRACE_MS):
        super().__init__(keys, room, clock, expiry_grace_ms)
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        values = [v.decode("latin-1") for k, v in scope["headers"] if k.lower() == b"gate-pass"]
        verdict = self.check(values)
        if isinstance(verdict, Pass):
            return await self.app(dict(scope, **{"edgegate.pass": verdict}), receive, send)
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 1008})
        headers = [(k.lower().encode(), v.encode()) for k, v in _REFUSAL_HEADERS]
        await send({"type": "http.response.start", "status": 401,
                    "headers": headers + [(b"content-length", str(len(_REFUSAL)).encode())]})
        await send({"type": "http.response.body", "body": _REFUSAL})
