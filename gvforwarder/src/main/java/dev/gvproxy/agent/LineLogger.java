package dev.gvproxy.agent;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.logging.Logger;

/** Copies a child's output, line by line, into the log. */
final class LineLogger {
    private static final Logger LOG = Logger.getLogger("gvforwarder");

    private LineLogger() {}

    static void copy(InputStream in, String prefix) {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            String line;
            while ((line = r.readLine()) != null) {
                LOG.info(prefix + ": " + line);
            }
        } catch (IOException e) {
            // the child is gone
        }
    }
}
