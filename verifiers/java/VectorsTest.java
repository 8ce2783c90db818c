// Holds PassVerifier.java to the core: every pass vector in crates/edgegate-core/tests/vectors.json
// verifies (valid) or is refused with the core's reason (invalid), tickets are refused as passes,
// and PassHttpFilter answers 401 without exactly one valid Gate-Pass. Plain javac and java, no
// test framework (the JDK has none); exits 1 on any mismatch.
//
//   javac -d /tmp/eg verifiers/java/PassVerifier.java verifiers/java/PassHttpFilter.java verifiers/java/VectorsTest.java
//   java -cp /tmp/eg edgegate.VectorsTest crates/edgegate-core/tests/vectors.json
package edgegate;

import com.sun.net.httpserver.HttpContext;
import com.sun.net.httpserver.HttpServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.math.BigInteger;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

public final class VectorsTest {
    private static final List<String> failures = new ArrayList<>();
    private static int vectorCases;
    private static int filterRequests;

    private static void check(boolean ok, String what) {
        if (!ok) failures.add(what);
    }

    public static void main(String[] args) throws Exception {
        Map<String, Object> vectors = obj(new Json(Files.readString(Path.of(args[0]))).value());
        Map<String, Map<String, Object>> secrets = new LinkedHashMap<>();
        for (Object s : list(vectors.get("secrets"))) secrets.put(str(obj(s).get("name")), obj(s));

        for (Object o : list(vectors.get("hmac_sha256"))) {
            Map<String, Object> c = obj(o);
            check(PassVerifier.hex(hmac(unhex(str(c.get("key"))), unhex(str(c.get("data"))))).equals(str(c.get("tag"))), "hmac " + c.get("name"));
            vectorCases++;
        }
        for (Map<String, Object> s : secrets.values()) {
            String derived = PassVerifier.hex(hmac(unhex(str(s.get("secret"))), "edgegate v1 pass key".getBytes(StandardCharsets.UTF_8)));
            check(derived.equals(str(s.get("pass_key"))), "pass key of " + s.get("name"));
            check(PassVerifier.hex(PassVerifier.parsePassKeys(s.get("id") + ":" + s.get("pass_key")).get(num(s.get("id")).intValue()))
                .equals(str(s.get("pass_key"))), "PASS_KEYS of " + s.get("name"));
            vectorCases++;
        }

        Map<String, Object> plainPass = null;
        Map<String, Object> shortSession = null;
        Set<Integer> passVersions = new TreeSet<>();
        for (Object o : list(vectors.get("valid"))) {
            Map<String, Object> c = obj(o);
            String name = str(c.get("name"));
            String room = str(c.get("room"));
            PassVerifier verifier = new PassVerifier(passKeys(secrets, list(c.get("verify_with"))), room);
            for (Object now : list(c.get("verify_at"))) {
                PassVerifier.Result r = verifier.verify(str(c.get("token")), num(now).longValue());
                if (c.get("pass") == null) { // a ticket: never a pass
                    check(!r.ok() && r.reason() == PassVerifier.Reason.WrongLength, name + ": ticket as pass gave " + r.reason());
                } else {
                    Map<String, Object> want = obj(c.get("pass"));
                    check(r.ok(), name + " at " + now + ": " + r.reason());
                    if (r.ok()) {
                        // A version-1 pass (no "version" in the JSON) reads as the core reads it: it
                        // ends when it expires, its ticket issued when it was, bound to no network.
                        PassVerifier.Pass p = r.pass();
                        Map<String, Object> f = p.fields();
                        check(p.version() == or(want, "version", BigInteger.ONE).intValue()
                            && p.keyId() == num(want.get("key_id")).intValue()
                            && PassVerifier.hex((byte[]) f.get("roomTag")).equals(str(c.get("room_tag")))
                            && p.ticketIdHex().equals(str(want.get("ticket_id")))
                            && unsigned(p.issuedAt()).equals(num(want.get("issued_at")))
                            && unsigned(p.expiresAt()).equals(num(want.get("expires_at")))
                            && unsigned(p.endsAt()).equals(or(want, "ends_at", num(want.get("expires_at"))))
                            && unsigned(p.ticketIssuedAt()).equals(or(want, "ticket_issued_at", num(want.get("issued_at"))))
                            && PassVerifier.hex((byte[]) f.get("homeNetwork")).equals(want.getOrDefault("home", "0".repeat(16)))
                            && PassVerifier.hex((byte[]) f.get("awayNetwork")).equals(want.getOrDefault("away", "0".repeat(16)))
                            && f.size() == 8, name + " at " + now + ": fields");
                    }
                }
                vectorCases++;
            }
            if (c.get("pass") != null) {
                Map<String, Object> want = obj(c.get("pass"));
                check(PassVerifier.hex(PassVerifier.roomTag(room)).equals(str(c.get("room_tag"))), name + ": room tag");
                passVersions.add(or(want, "version", BigInteger.ONE).intValue());
                // In scope until the earlier of its two ends (unsigned: one of them is 2^63).
                BigInteger end = num(want.get("expires_at")).min(or(want, "ends_at", num(want.get("expires_at"))));
                check(verifier.verify(str(c.get("token")), end.longValue() - 1).ok(), name + ": 1 ms before its end");
                check(verifier.verify(str(c.get("token")), end.longValue()).reason() == PassVerifier.Reason.Expired, name + ": at its end");
                vectorCases += 2;
                if (name.equals("pass")) plainPass = c;
                if (name.equals("pass v2, its session ends before its idle end")) shortSession = c;
            }
        }
        check(passVersions.equals(Set.of(1, 2)), "pass versions in the vectors: " + passVersions);
        int refused = 0;
        for (Object o : list(vectors.get("invalid"))) {
            Map<String, Object> c = obj(o);
            if (!str(c.get("verify_as")).equals("pass")) continue;
            PassVerifier verifier = new PassVerifier(passKeys(secrets, list(c.get("verify_with"))), str(c.get("room")));
            PassVerifier.Result r = verifier.verify(str(c.get("token")), num(c.get("now")).longValue());
            String got = r.ok() ? "accepted" : r.reason().name();
            check(got.equals(str(c.get("error"))), c.get("name") + ": want " + c.get("error") + ", got " + got);
            vectorCases++;
            refused++;
        }
        check(refused >= 30 && plainPass != null && shortSession != null, "the vectors hold the pass cases");

        // The reference origin's grace: 30 s past expiry and no more.
        String token = str(plainPass.get("token"));
        long end = num(obj(plainPass.get("pass")).get("expires_at")).longValue();
        PassVerifier verifier = new PassVerifier(passKeys(secrets, list(plainPass.get("verify_with"))), "booking");
        check(verifier.verify(token, end + 29_999, 30_000).ok(), "grace: 29.999 s past expiry");
        check(verifier.verify(token, end + 30_000, 30_000).reason() == PassVerifier.Reason.Expired, "grace: 30 s past expiry");
        check(verifier.verify(token, end).reason() == PassVerifier.Reason.Expired, "no grace: at expiry");
        // The same grace past a session's end.
        long sessionEnd = num(obj(shortSession.get("pass")).get("ends_at")).longValue();
        PassVerifier shortVerifier = new PassVerifier(passKeys(secrets, list(shortSession.get("verify_with"))), "booking");
        String shortToken = str(shortSession.get("token"));
        check(shortVerifier.verify(shortToken, sessionEnd + 29_999, 30_000).ok(), "grace: 29.999 s past the session's end");
        check(shortVerifier.verify(shortToken, sessionEnd + 30_000, 30_000).reason() == PassVerifier.Reason.Expired, "grace: 30 s past the session's end");
        vectorCases += 5;

        String key = "ab".repeat(32);
        for (String bad : new String[] {"", "1:" + key + ",", "1:00", "256:" + key, "x:" + key, "1:" + key + ",1:" + key, key, "-1:" + key}) {
            try {
                PassVerifier.parsePassKeys(bad);
                check(false, "PASS_KEYS " + bad + " was taken");
            } catch (IllegalArgumentException e) {
                check(!e.getMessage().contains(key), "PASS_KEYS error names the key");
            }
        }
        check(PassVerifier.parsePassKeys(" 2:" + key.toUpperCase() + " , +1:" + key).keySet().equals(new java.util.LinkedHashSet<>(List.of(2, 1))), "PASS_KEYS with spaces and +");

        filterTests(verifier, token, str(obj(plainPass.get("pass")).get("ticket_id")), num(list(plainPass.get("verify_at")).get(1)).longValue());

        for (String f : failures) System.out.println("MISMATCH " + f);
        System.out.println("java: " + vectorCases + " vector cases and " + filterRequests + " filter requests ran, "
            + failures.size() + " mismatched");
        System.exit(failures.isEmpty() ? 0 : 1);
    }

    /** PassHttpFilter on a real JDK server on a free port, asked over a raw socket (so a header can repeat). */
    private static void filterTests(PassVerifier verifier, String token, String ticketId, long now) throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        HttpContext context = server.createContext("/", exchange -> {
            PassVerifier.Pass pass = (PassVerifier.Pass) exchange.getAttribute("edgegate.pass");
            byte[] body = pass.ticketIdHex().getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Gate-Session", "end");
            exchange.sendResponseHeaders(200, body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        });
        context.getFilters().add(new PassHttpFilter(verifier, () -> now));
        server.start();
        try {
            int port = server.getAddress().getPort();
            String ok = ask(port, List.of(token));
            check(ok.startsWith("HTTP/1.1 200") && ok.toLowerCase().contains("gate-session: end") && ok.endsWith(ticketId), "filter: one valid pass");
            String forged = token.substring(0, 99) + (token.charAt(99) == 'A' ? 'B' : 'A');
            for (List<String> passes : List.of(List.<String>of(), List.of(token, token), List.of(forged), List.of(""))) {
                String answer = ask(port, passes);
                check(answer.startsWith("HTTP/1.1 401") && answer.toLowerCase().contains("cache-control: no-store")
                    && answer.contains("Gate-Pass is required"), "filter: " + passes.size() + " header(s) " + passes);
            }
        } finally {
            server.stop(0);
        }
    }

    private static String ask(int port, List<String> passes) throws IOException {
        filterRequests++;
        try (Socket socket = new Socket("127.0.0.1", port)) {
            socket.setSoTimeout(10_000);
            StringBuilder request = new StringBuilder("GET /book HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n");
            for (String p : passes) request.append("Gate-Pass: ").append(p).append("\r\n");
            socket.getOutputStream().write(request.append("\r\n").toString().getBytes(StandardCharsets.ISO_8859_1));
            InputStream in = socket.getInputStream();
            ByteArrayOutputStream all = new ByteArrayOutputStream();
            in.transferTo(all);
            return all.toString(StandardCharsets.ISO_8859_1);
        }
    }

    private static String passKeys(Map<String, Map<String, Object>> secrets, List<Object> names) {
        List<String> entries = new ArrayList<>();
        for (Object n : names) entries.add(secrets.get(str(n)).get("id") + ":" + secrets.get(str(n)).get("pass_key"));
        return String.join(",", entries);
    }

    private static byte[] hmac(byte[] key, byte[] data) throws Exception {
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(key, "HmacSHA256"));
        return mac.doFinal(data);
    }

    private static byte[] unhex(String hex) {
        byte[] out = new byte[hex.length() / 2];
        for (int i = 0; i < out.length; i++) out[i] = (byte) Integer.parseInt(hex.substring(2 * i, 2 * i + 2), 16);
        return out;
    }

    private static BigInteger unsigned(long value) {
        return new BigInteger(Long.toUnsignedString(value));
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> obj(Object o) { return (Map<String, Object>) o; }
    @SuppressWarnings("unchecked")
    private static List<Object> list(Object o) { return (List<Object>) o; }
    private static String str(Object o) { return (String) o; }
    private static BigInteger or(Map<String, Object> m, String key, BigInteger otherwise) {
        return m.containsKey(key) ? num(m.get(key)) : otherwise;
    }
    private static BigInteger num(Object o) { return (BigInteger) o; }

    /** Just enough JSON for the vectors: objects, arrays, strings, whole numbers (kept exact), literals. */
    private static final class Json {
        private final String s;
        private int i;

        Json(String s) { this.s = s; }

        Object value() {
            skip();
            char c = s.charAt(i);
            if (c == '{') {
                Map<String, Object> m = new LinkedHashMap<>();
                i++;
                for (skip(); s.charAt(i) != '}'; skip()) {
                    String k = string();
                    skip();
                    expect(':');
                    m.put(k, value());
                    skip();
                    if (s.charAt(i) == ',') i++;
                }
                i++;
                return m;
            }
            if (c == '[') {
                List<Object> l = new ArrayList<>();
                i++;
                for (skip(); s.charAt(i) != ']'; skip()) {
                    l.add(value());
                    skip();
                    if (s.charAt(i) == ',') i++;
                }
                i++;
                return l;
            }
            if (c == '"') return string();
            for (String lit : new String[] {"true", "false", "null"}) {
                if (s.startsWith(lit, i)) {
                    i += lit.length();
                    return lit.equals("null") ? null : Boolean.valueOf(lit);
                }
            }
            int start = i;
            while (i < s.length() && "-0123456789".indexOf(s.charAt(i)) >= 0) i++;
            if (i < s.length() && ".eE".indexOf(s.charAt(i)) >= 0) throw new IllegalArgumentException("a fraction at " + start);
            return new BigInteger(s.substring(start, i));
        }

        private String string() {
            expect('"');
            StringBuilder out = new StringBuilder();
            for (char c = s.charAt(i++); c != '"'; c = s.charAt(i++)) {
                if (c != '\\') {
                    out.append(c);
                    continue;
                }
                char e = s.charAt(i++);
                switch (e) {
                    case 'n': out.append('\n'); break;
                    case 't': out.append('\t'); break;
                    case 'r': out.append('\r'); break;
                    case 'b': out.append('\b'); break;
                    case 'f': out.append('\f'); break;
                    case 'u': out.append((char) Integer.parseInt(s.substring(i, i + 4), 16)); i += 4; break;
                    default: out.append(e); // \" \\ \/
                }
            }
            return out.toString();
        }

        private void expect(char c) {
            if (s.charAt(i++) != c) throw new IllegalArgumentException("expected " + c + " at " + (i - 1));
        }

        private void skip() {
            while (i < s.length() && Character.isWhitespace(s.charAt(i))) i++;
        }
    }
}
