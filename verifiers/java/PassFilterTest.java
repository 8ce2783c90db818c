// Drives PassFilter.java, the Jakarta Servlet filter, with stand-in requests and responses (the
// servlet interfaces proxied, no container): one valid pass reaches the chain with the pass in
// the request's attributes, and no pass, two passes or a forged one get 401. Exits 1 on a
// mismatch. Needs the servlet API jar on the class path (scripts/test-verifiers).
//
//   java -cp /tmp/eg:/usr/share/java/jakarta-servlet-api.jar edgegate.PassFilterTest crates/edgegate-core/tests/vectors.json
package edgegate;

import jakarta.servlet.FilterChain;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.reflect.Proxy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public final class PassFilterTest {
    public static void main(String[] args) throws Exception {
        // The plain pass vector and the current key, read by pattern: the shapes are fixed, and
        // VectorsTest reads the whole file with a parser.
        String json = Files.readString(Path.of(args[0]));
        String token = find(json, "\"name\": \"pass\",[\\s\\S]*?\"token\": \"([^\"]+)\"");
        String key = find(json, "\"name\": \"current\",[\\s\\S]*?\"pass_key\": \"([0-9a-f]{64})\"");
        long now = Long.parseLong(find(json, "\"name\": \"pass\",[\\s\\S]*?\"verify_at\": \\[\\s*\\d+,\\s*(\\d+)"));
        PassFilter filter = new PassFilter(new PassVerifier("2:" + key, "booking"), () -> now);

        int mismatches = 0;
        int requests = 0;
        String forged = token.substring(0, 99) + (token.charAt(99) == 'A' ? 'B' : 'A');
        List<List<String>> cases = List.of(List.of(token), List.of(), List.of(token, token), List.of(forged));
        for (List<String> passes : cases) {
            Map<String, Object> attributes = new HashMap<>();
            Map<String, Object> answer = new HashMap<>();
            StringWriter body = new StringWriter();
            HttpServletRequest req = proxy(HttpServletRequest.class, (name, a) -> {
                if (name.equals("getHeaders")) return Collections.enumeration("Gate-Pass".equalsIgnoreCase((String) a[0]) ? passes : List.of());
                if (name.equals("setAttribute")) return attributes.put((String) a[0], a[1]);
                return null;
            });
            HttpServletResponse res = proxy(HttpServletResponse.class, (name, a) -> {
                if (name.equals("getWriter")) return new PrintWriter(body, true);
                if (name.equals("setStatus")) return answer.put("status", a[0]);
                if (name.equals("setHeader")) return answer.put((String) a[0], a[1]);
                return null;
            });
            boolean[] reached = {false};
            FilterChain chain = (request, response) -> reached[0] = true;
            filter.doFilter(req, res, chain);
            requests++;
            boolean valid = passes.size() == 1 && passes.get(0).equals(token);
            boolean ok = valid
                ? reached[0] && attributes.get("edgegate.pass") instanceof PassVerifier.Pass && answer.isEmpty()
                : !reached[0] && Integer.valueOf(401).equals(answer.get("status"))
                    && "no-store".equals(answer.get("Cache-Control")) && body.toString().contains("Gate-Pass");
            if (!ok) {
                mismatches++;
                System.out.println("MISMATCH servlet filter with " + passes.size() + " header(s): " + answer + " " + attributes);
            }
        }
        System.out.println("java servlet filter: " + requests + " requests ran, " + mismatches + " mismatched");
        System.exit(mismatches == 0 ? 0 : 1);
    }

    private interface Answer {
        Object call(String method, Object[] args);
    }

    private static <T> T proxy(Class<T> type, Answer answer) {
        return type.cast(Proxy.newProxyInstance(type.getClassLoader(), new Class<?>[] {type},
            (self, method, args) -> {
                Object result = answer.call(method.getName(), args == null ? new Object[0] : args);
                // Primitive returns (isSecure, getStatus…) must not come back null.
                if (result == null && method.getReturnType() == boolean.class) return false;
                if (result == null && method.getReturnType() == int.class) return 0;
                return method.getReturnType() == void.class ? null : result;
            }));
    }

    private static String find(String text, String pattern) {
        Matcher m = Pattern.compile(pattern).matcher(text);
        if (!m.find()) throw new IllegalStateException("vectors.json has no match for " + pattern);
        return m.group(1);
    }
}
