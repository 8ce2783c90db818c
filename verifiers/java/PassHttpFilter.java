// The Gate-Pass guard for the JDK's own HTTP server (com.sun.net.httpserver): 401 without exactly
// one valid pass, otherwise the Pass goes into the exchange's "edgegate.pass" attribute. The shape
// is a servlet filter's (PassFilter.java), on a server the JDK carries, so it is tested as is.
//
//   HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 8788), 0);
//   server.createContext("/healthz", ex -> { ex.sendResponseHeaders(200, -1); ex.close(); });
//   HttpContext app = server.createContext("/", new BookingHandler());
//   app.getFilters().add(new PassHttpFilter(new PassVerifier(System.getenv("PASS_KEYS"), "booking")));
//   server.start();
package edgegate;

import com.sun.net.httpserver.Filter;
import com.sun.net.httpserver.HttpExchange;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.function.LongSupplier;

public final class PassHttpFilter extends Filter {
    static final byte[] REFUSAL =
        "401: a valid Gate-Pass is required (this site opens only through the waiting room)\n".getBytes(StandardCharsets.UTF_8);

    private final PassVerifier verifier;
    private final LongSupplier clock;

    public PassHttpFilter(PassVerifier verifier) {
        this(verifier, System::currentTimeMillis);
    }

    /** `clock` gives unix ms; tests pass a fixed one. */
    public PassHttpFilter(PassVerifier verifier, LongSupplier clock) {
        this.verifier = verifier;
        this.clock = clock;
    }

    @Override
    public void doFilter(HttpExchange exchange, Chain chain) throws IOException {
        // The server keeps repeated headers apart; two passes count as none.
        List<String> values = exchange.getRequestHeaders().get("Gate-Pass");
        PassVerifier.Result result = values == null || values.size() != 1
            ? null
            : verifier.verify(values.get(0).strip(), clock.getAsLong(), PassVerifier.ORIGIN_EXPIRY_GRACE_MS);
        if (result != null && result.ok()) {
            exchange.setAttribute("edgegate.pass", result.pass());
            chain.doFilter(exchange);
            return;
        }
        exchange.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
        exchange.getResponseHeaders().set("Cache-Control", "no-store");
        exchange.sendResponseHeaders(401, REFUSAL.length);
        try (OutputStream body = exchange.getResponseBody()) {
            body.write(REFUSAL);
        }
    }

    @Override
    public String description() {
        return "edgegate Gate-Pass guard";
    }
}
