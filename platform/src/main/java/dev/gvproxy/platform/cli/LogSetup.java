package dev.gvproxy.platform.cli;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.OffsetDateTime;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.logging.ConsoleHandler;
import java.util.logging.Formatter;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.StreamHandler;

/**
 * One-line logs in gvproxy's (logrus text) shape: {@code time="..." level=info msg="..."}, on stderr or
 * in the {@code -log-file}. {@code -debug} lowers the level to FINE (debug).
 */
public final class LogSetup {
    private LogSetup() {}

    static final class LogrusFormatter extends Formatter {
        @Override
        public String format(LogRecord r) {
            String level = r.getLevel().intValue() >= Level.SEVERE.intValue() ? "error"
                    : r.getLevel().intValue() >= Level.WARNING.intValue() ? "warning"
                    : r.getLevel().intValue() >= Level.INFO.intValue() ? "info"
                    : r.getLevel().intValue() >= Level.FINE.intValue() ? "debug" : "trace";
            String msg = formatMessage(r);
            if (r.getThrown() != null) {
                msg = msg + ": " + r.getThrown();
            }
            String time = OffsetDateTime.now().truncatedTo(ChronoUnit.SECONDS).format(DateTimeFormatter.ISO_OFFSET_DATE_TIME);
            return "time=\"" + time + "\" level=" + level + " msg=\"" + msg.replace("\\", "\\\\").replace("\"", "\\\"")
                    + "\"\n";
        }
    }

    /** Routes all java.util.logging output through the logrus-style formatter. */
    public static void configure(boolean debug, Path logFile) throws IOException {
        Logger root = Logger.getLogger("");
        for (Handler h : root.getHandlers()) {
            root.removeHandler(h);
        }
        Handler h;
        if (logFile != null) {
            OutputStream out = Files.newOutputStream(logFile);
            h = new StreamHandler(new PrintStream(out, true), new LogrusFormatter()) {
                @Override
                public synchronized void publish(LogRecord record) {
                    super.publish(record);
                    flush();
                }
            };
        } else {
            h = new ConsoleHandler();
            h.setFormatter(new LogrusFormatter());
        }
        Level level = debug ? Level.FINE : Level.INFO;
        h.setLevel(level);
        root.addHandler(h);
        root.setLevel(level);
        // Netty logs its own internals at DEBUG; keep them out of -debug output.
        Logger.getLogger("io.netty").setLevel(Level.INFO);
    }
}
