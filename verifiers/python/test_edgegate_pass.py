"""Holds edgegate_pass.py to the core: every pass vector in crates/edgegate-core/tests/vectors.json
verifies (valid) or is refused with the core's reason (invalid), tickets are refused as passes,
and the WSGI and ASGI middlewares answer 401 without exactly one valid Gate-Pass.

Run from this folder: python3 -m unittest
"""

import asyncio
import hashlib
import hmac
import http.client
import json
import pathlib
import threading
import unittest
from wsgiref.simple_server import WSGIRequestHandler, make_server

import edgegate_pass as ep

VECTORS = json.loads((pathlib.Path(__file__).resolve().parents[2]
                      / "crates/edgegate-core/tests/vectors.json").read_text("utf-8"))
SECRETS = {s["name"]: s for s in VECTORS["secrets"]}
PASSES = [c for c in VECTORS["valid"] if c.get("pass")]
TICKETS = [c for c in VECTORS["valid"] if c.get("ticket")]
REFUSED = [c for c in VECTORS["invalid"] if c["verify_as"] == "pass"]
RAN = {"vector": 0, "middleware": 0}


def ring(names):
    """The origin's PASS_KEYS for these secrets, as derive-pass-keys prints it, parsed."""
    return ep.parse_pass_keys(",".join(f"{SECRETS[n]['id']}:{SECRETS[n]['pass_key']}" for n in names))


def reason(text, keys, room, now, grace=0):
    try:
        ep.verify_pass(text, keys, room, now, grace)
        return "accepted"
    except ep.PassRefused as refused:
        return refused.reason


class Vectors(unittest.TestCase):
    def test_hmac_is_rfc_4231(self):
        for case in VECTORS["hmac_sha256"]:
            tag = hmac.new(bytes.fromhex(case["key"]), bytes.fromhex(case["data"]), hashlib.sha256)
            self.assertEqual(tag.hexdigest(), case["tag"], case["name"])
            RAN["vector"] += 1

    def test_pass_keys_are_hmac_of_the_secret_under_the_label(self):
        for s in VECTORS["secrets"]:
            derived = hmac.new(bytes.fromhex(s["secret"]), b"edgegate v1 pass key", hashlib.sha256)
            self.assertEqual(derived.hexdigest(), s["pass_key"], s["name"])
            self.assertEqual(ring([s["name"]]), {s["id"]: bytes.fromhex(s["pass_key"])})
            RAN["vector"] += 1

    def test_valid_passes_verify_at_every_instant_and_not_from_the_earlier_of_their_ends(self):
        self.assertGreaterEqual(len(PASSES), 4)
        versions = set()
        for case in PASSES:
            self.assertEqual(ep.room_tag(case["room"]).hex(), case["room_tag"], case["name"])
            p = case["pass"]
            # A version-1 pass (no "version" in the JSON) reads as the core reads it: it ends
            # when it expires, its ticket issued when it was, bound to no network.
            version = p.get("version", 1)
            versions.add(version)
            want = (version, p["key_id"], {
                "room_tag": bytes.fromhex(case["room_tag"]),
                "ticket_id": bytes.fromhex(p["ticket_id"]),
                "issued_at": p["issued_at"],
                "expires_at": p["expires_at"],
                "ends_at": p.get("ends_at", p["expires_at"]),
                "ticket_issued_at": p.get("ticket_issued_at", p["issued_at"]),
                "home_network": bytes.fromhex(p.get("home", "00" * 8)),
                "away_network": bytes.fromhex(p.get("away", "00" * 8)),
            })
            keys = ring(case["verify_with"])
            for now in case["verify_at"]:
                with self.subTest(f"{case['name']} at {now}"):
                    got = ep.verify_pass(case["token"], keys, case["room"], now)
                    self.assertEqual((got.version, got.key_id, dict(got.fields)), want)
                    self.assertEqual((got.ends_at, got.ticket_issued_at),
                                     (want[2]["ends_at"], want[2]["ticket_issued_at"]))
                RAN["vector"] += 1
            end = min(want[2]["expires_at"], want[2]["ends_at"])
            with self.subTest(f"{case['name']} at its end"):
                self.assertEqual(reason(case["token"], keys, case["room"], end - 1), "accepted")
                self.assertEqual(reason(case["token"], keys, case["room"], end), "Expired")
            RAN["vector"] += 2
        self.assertEqual(versions, {1, 2})

    def test_invalid_passes_are_refused_with_the_cores_reason(self):
        self.assertGreaterEqual(len(REFUSED), 30)
        for case in REFUSED:
            with self.subTest(case["name"]):  # every mismatch is reported, not only the first
                got = reason(case["token"], ring(case["verify_with"]), case["room"], case["now"])
                self.assertEqual(got, case["error"])
            RAN["vector"] += 1

    def test_tickets_are_no_passes(self):
        for case in TICKETS:
            for now in case["verify_at"]:
                self.assertEqual(reason(case["token"], ring(case["verify_with"]), case["room"], now),
                                 "WrongLength", case["name"])
                RAN["vector"] += 1

    def test_the_origin_grace_accepts_30_s_past_expiry_and_no_more(self):
        case = next(c for c in PASSES if c["name"] == "pass")
        keys, end = ring(case["verify_with"]), case["pass"]["expires_at"]
        self.assertEqual(reason(case["token"], keys, "booking", end + 29_999, 30_000), "accepted")
        self.assertEqual(reason(case["token"], keys, "booking", end + 30_000, 30_000), "Expired")
        self.assertEqual(reason(case["token"], keys, "booking", end, 0), "Expired")
        RAN["vector"] += 3

    def test_the_origin_grace_is_as_long_past_a_sessions_end(self):
        case = next(c for c in PASSES if c["name"] == "pass v2, its session ends before its idle end")
        keys, end = ring(case["verify_with"]), case["pass"]["ends_at"]
        self.assertLess(end, case["pass"]["expires_at"])
        self.assertEqual(reason(case["token"], keys, "booking", end + 29_999, 30_000), "accepted")
        self.assertEqual(reason(case["token"], keys, "booking", end + 30_000, 30_000), "Expired")
        RAN["vector"] += 2

    def test_pass_keys_refuse_mistakes_without_naming_a_key(self):
        key = "ab" * 32
        for text in ["", f"1:{key},", "1:00", f"256:{key}", f"x:{key}", f"1:{key},1:{key}", key, f"-1:{key}"]:
            with self.assertRaises(ValueError, msg=text) as raised:
                ep.parse_pass_keys(text)
            self.assertNotIn(key, str(raised.exception))
        self.assertEqual(ep.parse_pass_keys(f" 2:{key.upper()} , +1:{key}"), {2: bytes.fromhex(key), 1: bytes.fromhex(key)})


PASS = next(c for c in PASSES if c["name"] == "pass")
NOW = PASS["verify_at"][1]


def booking(environ, start_response):
    """The protected app: says which place in line the pass was earned by."""
    start_response("200 OK", [("Content-Type", "text/plain"), ep.END_SESSION])
    return [environ["edgegate.pass"].ticket_id.hex().encode()]


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class WSGI(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        app = ep.GatePassWSGI(booking, keys=ring(PASS["verify_with"]), room="booking", clock=lambda: NOW)
        cls.server = make_server("127.0.0.1", 0, app, handler_class=Quiet)
        cls.thread = threading.Thread(target=cls.server.serve_forever, daemon=True)
        cls.thread.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()

    def ask(self, *passes):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.server_port, timeout=10)
        conn.putrequest("GET", "/book")
        for value in passes:
            conn.putheader("Gate-Pass", value)
        conn.endheaders()
        res = conn.getresponse()
        answer = (res.status, res.getheader("Cache-Control"), res.getheader("Gate-Session"), res.read())
        conn.close()
        RAN["middleware"] += 1
        return answer

    def test_one_valid_pass_goes_through(self):
        self.assertEqual(self.ask(PASS["token"]), (200, None, "end", PASS["pass"]["ticket_id"].encode()))

    def test_no_pass_two_passes_and_a_forged_one_are_401(self):
        forged = next(c for c in REFUSED if c["error"] == "BadMac")["token"]
        for passes in [(), (PASS["token"], PASS["token"]), (forged,), ("",)]:
            status, cache, _, body = self.ask(*passes)
            self.assertEqual((status, cache), (401, "no-store"), passes)
            self.assertIn(b"Gate-Pass", body)


class ASGI(unittest.TestCase):
    def call(self, scope):
        sent, seen = [], []

        async def app(scope, receive, send):
            seen.append(scope)
            await send({"type": "http.response.start", "status": 200, "headers": []})

        async def receive():
            return {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        guard = ep.GatePassASGI(app, keys=ring(PASS["verify_with"]), room="booking", clock=lambda: NOW)
        asyncio.run(guard(scope, receive, send))
        RAN["middleware"] += 1
        return seen, sent

    def http(self, *passes, kind="http"):
        headers = [(b"host", b"origin")] + [(b"gate-pass", p.encode("latin-1")) for p in passes]
        return self.call({"type": kind, "path": "/book", "headers": headers})

    def test_one_valid_pass_goes_through_with_the_pass_in_the_scope(self):
        seen, sent = self.http(PASS["token"])
        self.assertEqual(seen[0]["edgegate.pass"].ticket_id.hex(), PASS["pass"]["ticket_id"])
        self.assertEqual(sent[0]["status"], 200)

    def test_no_pass_two_passes_and_an_expired_one_are_401(self):
        late = next(c for c in REFUSED if c["name"] == "pass, issued at 2^63")["token"]
        for passes in [(), (PASS["token"], PASS["token"]), (late,)]:
            seen, sent = self.http(*passes)
            self.assertEqual((seen, sent[0]["status"]), ([], 401), passes)
            self.assertIn((b"cache-control", b"no-store"), sent[0]["headers"])

    def test_a_websocket_without_a_pass_is_refused_and_lifespan_passes(self):
        seen, sent = self.http(kind="websocket")
        self.assertEqual((seen, sent), ([], [{"type": "websocket.close", "code": 1008}]))
        seen, _ = self.call({"type": "lifespan"})
        self.assertEqual(len(seen), 1)


def tearDownModule():
    print(f"\npython: {RAN['vector']} vector cases and {RAN['middleware']} middleware requests ran")
