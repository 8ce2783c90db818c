// The Gate-Pass guard as a Jakarta Servlet filter (Servlet 5 or newer: Tomcat 10+, Jetty 11+,
// Spring Boot 3): 401 without exactly one valid pass, otherwise the Pass goes into the request's
// "edgegate.pass" attribute. For javax.servlet (Tomcat 9, Spring Boot 2) change the
// `jakarta.servlet` imports to `javax.servlet`; nothing else differs. It needs the servlet API on
// the class path (Debian: libjakarta-servlet-api-java), which scripts/test-verifiers installs to
// compile it and drive it with stand-in requests.
//
//   <filter><filter-name>gate-pass</filter-name><filter-class>edgegate.PassFilter</filter-class>
//     <init-param><param-name>room</param-name><param-value>booking</param-value></init-param>
//   </filter>
//   <filter-mapping><filter-name>gate-pass</filter-name><url-pattern>/*</url-pattern></filter-mapping>
//   (PASS_KEYS comes from the environment; in Spring Boot register `new PassFilter(verifier)` as a bean.)
package edgegate;

import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.FilterConfig;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.Collections;
import java.util.List;
import java.util.function.LongSupplier;

public final class PassFilter implements Filter {
    private PassVerifier verifier;
    private LongSupplier clock = System::currentTimeMillis;

    /** For a container that builds the filter itself: keys from PASS_KEYS, room from the init parameter. */
    public PassFilter() {
    }

    public PassFilter(PassVerifier verifier) {
        this.verifier = verifier;
    }

    /** `clock` gives unix ms; tests pass a fixed one. */
    public PassFilter(PassVerifier verifier, LongSupplier clock) {
        this.verifier = verifier;
        this.clock = clock;
    }

    @Override
    public void init(FilterConfig config) {
        if (verifier == null) {
            String room = config.getInitParameter("room");
            // A bad PASS_KEYS stops the application at start, never a request later.
            verifier = new PassVerifier(System.getenv("PASS_KEYS"), room == null ? "booking" : room);
        }
    }

    @Override
    public void doFilter(ServletRequest request, ServletResponse response, FilterChain chain)
        throws IOException, ServletException {
        HttpServletRequest req = (HttpServletRequest) request;
        // Repeated headers stay apart here; two passes count as none.
        List<String> values = Collections.list(req.getHeaders("Gate-Pass"));
        PassVerifier.Result result = values.size() != 1
            ? null
            : verifier.verify(values.get(0).strip(), clock.getAsLong(), PassVerifier.ORIGIN_EXPIRY_GRACE_MS);
        if (result != null && result.ok()) {
            req.setAttribute("edgegate.pass", result.pass());
            chain.doFilter(request, response);
            return;
        }
        HttpServletResponse res = (HttpServletResponse) response;
        res.setStatus(401);
        res.setContentType("text/plain; charset=utf-8");
        res.setHeader("Cache-Control", "no-store");
        res.getWriter().write("401: a valid Gate-Pass is required (this site opens only through the waiting room)\n");
    }
}
