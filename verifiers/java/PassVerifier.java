// Verifies edgegate's Gate-Pass header in a Java origin, with the JDK only (Java 11 or newer).
//
// The gate sets `Gate-Pass` on every request it lets through to the origin; `verify` turns that
// header's text into a trusted Pass, or refuses it with the reason the Rust core would give
// (docs/PASS.md is the specification, crates/edgegate-core/tests/vectors.json the conformance
// suite). Copy this one file into your project and change the package line to yours.
// PassHttpFilter.java (com.sun.net.httpserver) and PassFilter.java (Jakarta Servlet) use it.
//
//   PassVerifier verifier = new PassVerifier(System.getenv("PASS_KEYS"), "booking");
//   PassVerifier.Result result = verifier.verify(request.getHeader("Gate-Pass"),
//       System.currentTimeMillis(), PassVerifier.ORIGIN_EXPIRY_GRACE_MS);
//   if (!result.ok()) { /* answer 401, whatever result.reason() says */ }
package edgegate;

import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

public final class PassVerifier {
    /** Why a pass was refused: the names of the Rust core's TokenError. Every one means "no pass". */
    public enum Reason {
        TooLong, NotBase64, WrongLength, UnknownVersion, WrongKind, UnknownKey, BadMac, WrongRoom, Expired, FromTheFuture
    }

    /** Longer text is refused before decoding, in UTF-8 bytes. */
    public static final int MAX_TOKEN_BYTES = 160;
    /** How far in the future a pass's issue time may lie, in ms. */
    public static final long MAX_SKEW_MS = 30_000;
    /** What the reference origin accepts past a pass's expiry, for clock skew, in ms. */
    public static final long ORIGIN_EXPIRY_GRACE_MS = 30_000;
    private static final int KIND_PASS = 'P';
    private static final int TAG_LEN = 32;

    /** A field of a pass layout: `size` bytes, read as an unsigned big-endian 64-bit number or kept as bytes. */
    private static final class Field {
        final String name;
        final int size;
        final boolean u64;

        Field(String name, int size, boolean u64) {
            this.name = name;
            this.size = size;
            this.u64 = u64;
        }
    }

    // Pass layouts by version byte: the fields after the 3-byte header (version, kind, key id) and
    // before the 32-byte HMAC tag. A new pass version is one more entry here, plus the checks its
    // new fields need in `scope` and the values an older pass reads as in `verify`.
    private static final List<Field> V1_FIELDS = List.of(new Field("roomTag", 8, false), new Field("ticketId", 16, false),
        new Field("issuedAt", 8, true), new Field("expiresAt", 8, true));
    private static final Map<Integer, List<Field>> LAYOUTS = Map.of(
        1, V1_FIELDS,
        // endsAt: the session's absolute end; ticketIssuedAt: when the place in line was taken;
        // homeNetwork, awayNetwork: the gate's tags of the client networks the pass is good from,
        // opaque here (keyed with a secret the origin never holds) and checked by the gate itself.
        2, concat(V1_FIELDS, List.of(new Field("endsAt", 8, true), new Field("ticketIssuedAt", 8, true),
            new Field("homeNetwork", 8, false), new Field("awayNetwork", 8, false))));
    // The layout an unknown version byte is measured against: on its length the version is what is
    // wrong (UnknownVersion), on any other length the length is (WrongLength), as the core does.
    private static final int FALLBACK_VERSION = 1;

    /**
     * A verified pass. Times are unix ms held as unsigned 64-bit values (compare with
     * Long.compareUnsigned). Every pass has every field of the newest layout: a version-1 pass
     * reads as ending when it expires, its ticket issued when it was, and network tags of zeros.
     * The network tags are the gate's to check.
     */
    public static final class Pass {
        private final int version;
        private final int keyId;
        private final Map<String, Object> fields;

        Pass(int version, int keyId, Map<String, Object> fields) {
            this.version = version;
            this.keyId = keyId;
            this.fields = Collections.unmodifiableMap(fields);
        }

        public int version() { return version; }
        public int keyId() { return keyId; }
        /** Every field of the layout by name: byte[] or Long. */
        public Map<String, Object> fields() { return fields; }
        /** The place in line this pass was earned by (16 bytes, lowercase hex); stable across renewals. */
        public String ticketIdHex() { return hex((byte[]) fields.get("ticketId")); }
        public long issuedAt() { return (Long) fields.get("issuedAt"); }
        /** The idle end: a renewed pass has a later one, never past {@link #endsAt()}. */
        public long expiresAt() { return (Long) fields.get("expiresAt"); }
        /** The session's absolute end: no pass for this session is good after it. */
        public long endsAt() { return (Long) fields.get("endsAt"); }
        /** When the place in line this pass was earned by was taken; stable across renewals. */
        public long ticketIssuedAt() { return (Long) fields.get("ticketIssuedAt"); }
    }

    /** A pass, or the reason there is none. */
    public static final class Result {
        private final Pass pass;
        private final Reason reason;

        private Result(Pass pass, Reason reason) {
            this.pass = pass;
            this.reason = reason;
        }

        public boolean ok() { return pass != null; }
        public Pass pass() { return pass; }
        /** For logs and tests only. */
        public Reason reason() { return reason; }
    }

    private final Map<Integer, SecretKeySpec> keys;
    private final byte[] room;

    /** `passKeys` as the origin receives PASS_KEYS; throws IllegalArgumentException naming the entry, never a key. */
    public PassVerifier(String passKeys, String room) {
        this(parsePassKeys(passKeys), room);
    }

    public PassVerifier(Map<Integer, byte[]> keys, String room) {
        if (keys.isEmpty()) throw new IllegalArgumentException("no pass keys");
        Map<Integer, SecretKeySpec> specs = new LinkedHashMap<>();
        keys.forEach((id, key) -> specs.put(id, new SecretKeySpec(key, "HmacSHA256")));
        this.keys = specs;
        this.room = roomTag(room);
    }

    private static final Pattern ENTRY = Pattern.compile("(\\+?[0-9]+):(.*)", Pattern.DOTALL);
    private static final Pattern KEY = Pattern.compile("[0-9A-Fa-f]{64}");

    /** PASS_KEYS (`id:hex[,id:hex…]`, newest first, as `edgegate-origin derive-pass-keys` prints it) → key id → 32-byte key. */
    public static Map<Integer, byte[]> parsePassKeys(String text) {
        Map<Integer, byte[]> keys = new LinkedHashMap<>();
        String[] parts = text.split(",", -1);
        for (int entry = 0; entry < parts.length; entry++) {
            String part = parts[entry].strip();
            int colon = part.indexOf(':');
            // Rust's integer parser, which the gate's own reader uses, takes one leading '+'.
            Matcher m = ENTRY.matcher(colon < 0 ? "" : part.substring(0, colon).strip() + ":" + part.substring(colon + 1).strip());
            if (!m.matches() || new BigInteger(m.group(1).replace("+", "")).compareTo(BigInteger.valueOf(255)) > 0) {
                throw new IllegalArgumentException("PASS_KEYS entry " + entry + " is not of the form <id 0-255>:<hex>");
            }
            int id = Integer.parseInt(m.group(1).replace("+", ""));
            if (!KEY.matcher(m.group(2)).matches()) throw new IllegalArgumentException("PASS_KEYS key " + id + " is not 32 bytes of hex");
            if (keys.containsKey(id)) throw new IllegalArgumentException("PASS_KEYS key id " + id + " is listed twice");
            byte[] key = new byte[32];
            for (int i = 0; i < 32; i++) key[i] = (byte) Integer.parseInt(m.group(2).substring(2 * i, 2 * i + 2), 16);
            keys.put(id, key);
        }
        return keys;
    }

    /** The 8 bytes a pass carries for its room: SHA-256 over "edgegate room", a zero byte and the name in UTF-8, cut to 8. */
    public static byte[] roomTag(String room) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update("edgegate room\0".getBytes(StandardCharsets.UTF_8));
            byte[] tag = new byte[8];
            System.arraycopy(sha.digest(room.getBytes(StandardCharsets.UTF_8)), 0, tag, 0, 8);
            return tag;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }

    /** The core's rule exactly: {@link #verify(String, long, long)} without grace. */
    public Result verify(String text, long nowMs) {
        return verify(text, nowMs, 0);
    }

    /**
     * Turns Gate-Pass text into a Pass for this verifier's room at `nowMs` (unix ms), or says why
     * not. The checks and their order are the core's: size, base64, length, version, kind, key
     * id, MAC, room, expiry, issue time. `expiryGraceMs` accepts a pass that expired that long ago,
     * as the reference origin does (ORIGIN_EXPIRY_GRACE_MS). Never throws for any text.
     */
    public Result verify(String text, long nowMs, long expiryGraceMs) {
        if (text == null) return no(Reason.WrongLength); // no header at all: the empty pass
        if (text.length() > MAX_TOKEN_BYTES || text.getBytes(StandardCharsets.UTF_8).length > MAX_TOKEN_BYTES) {
            return no(Reason.TooLong);
        }
        byte[] raw = decode(text);
        if (raw == null) return no(Reason.NotBase64);
        int first = raw.length > 0 ? raw[0] & 0xff : -1;
        int version = LAYOUTS.containsKey(first) ? first : FALLBACK_VERSION;
        List<Field> layout = LAYOUTS.get(version);
        int payloadLen = 3 + layout.stream().mapToInt(f -> f.size).sum();
        if (raw.length != payloadLen + TAG_LEN) return no(Reason.WrongLength);
        if (first != version) return no(Reason.UnknownVersion);
        if ((raw[1] & 0xff) != KIND_PASS) return no(Reason.WrongKind);
        int keyId = raw[2] & 0xff;
        SecretKeySpec key = keys.get(keyId);
        if (key == null) return no(Reason.UnknownKey);
        byte[] mac;
        try {
            Mac hmac = Mac.getInstance("HmacSHA256");
            hmac.init(key);
            hmac.update(raw, 0, payloadLen);
            mac = hmac.doFinal();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("the JDK has no HmacSHA256", e);
        }
        byte[] tag = new byte[TAG_LEN];
        System.arraycopy(raw, payloadLen, tag, 0, TAG_LEN);
        // Constant time over the full 32 bytes: never Arrays.equals on a MAC.
        if (!MessageDigest.isEqual(mac, tag)) return no(Reason.BadMac);
        Map<String, Object> fields = new LinkedHashMap<>();
        int at = 3;
        for (Field f : layout) {
            if (f.u64) {
                long value = 0;
                for (int i = 0; i < 8; i++) value = (value << 8) | (raw[at + i] & 0xff);
                fields.put(f.name, value);
            } else {
                byte[] bytes = new byte[f.size];
                System.arraycopy(raw, at, bytes, 0, f.size);
                fields.put(f.name, bytes);
            }
            at += f.size;
        }
        if (version == 1) {
            // What a version-1 pass reads as, as the core reads it: it ends when it expires, its
            // ticket issued when it was, bound to no network.
            fields.put("endsAt", fields.get("expiresAt"));
            fields.put("ticketIssuedAt", fields.get("issuedAt"));
            fields.put("homeNetwork", new byte[8]);
            fields.put("awayNetwork", new byte[8]);
        }
        Reason reason = scope(fields, nowMs);
        if (reason == Reason.Expired && expiryGraceMs > 0) {
            reason = scope(fields, Long.compareUnsigned(nowMs, expiryGraceMs) < 0 ? 0 : nowMs - expiryGraceMs);
        }
        return reason == null ? new Result(new Pass(version, keyId, fields), null) : no(reason);
    }

    // The times are u64 on the wire: a Java long read signed would take a time with the top bit
    // set for one long past, so every comparison is unsigned.
    private Reason scope(Map<String, Object> fields, long now) {
        if (!MessageDigest.isEqual((byte[]) fields.get("roomTag"), room)) return Reason.WrongRoom;
        // In scope until the earlier of its idle end and its session's end.
        if (Long.compareUnsigned(now, (Long) fields.get("expiresAt")) >= 0
            || Long.compareUnsigned(now, (Long) fields.get("endsAt")) >= 0) {
            return Reason.Expired;
        }
        long latest = Long.compareUnsigned(now, -1L - MAX_SKEW_MS) > 0 ? -1L : now + MAX_SKEW_MS;
        if (Long.compareUnsigned((Long) fields.get("issuedAt"), latest) > 0) return Reason.FromTheFuture;
        return null;
    }

    /**
     * Strict unpadded base64url, or null. Java's URL decoder refuses the standard alphabet and
     * whitespace, but takes padding and ignores the unused bits of the last character; the core
     * takes neither, so the alphabet is checked first and the bytes must encode back to the text.
     */
    private static byte[] decode(String text) {
        if (text.length() % 4 == 1) return null;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            boolean ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
            if (!ok) return null;
        }
        byte[] raw = Base64.getUrlDecoder().decode(text);
        return Base64.getUrlEncoder().withoutPadding().encodeToString(raw).equals(text) ? raw : null;
    }

    private static List<Field> concat(List<Field> first, List<Field> then) {
        List<Field> all = new ArrayList<>(first);
        all.addAll(then);
        return List.copyOf(all);
    }

    private static Result no(Reason reason) {
        return new Result(null, reason);
    }

    static String hex(byte[] bytes) {
        StringBuilder out = new StringBuilder();
        for (byte b : bytes) out.append(String.format("%02x", b & 0xff));
        return out.toString();
    }
}
