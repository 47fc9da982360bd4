package dev.gvproxy.ssh;

import java.util.logging.Level;
import java.util.logging.Logger;

/** JSch's log lines into java.util.logging (like everything else), one level down: JSch's INFO is chatty. */
final class JulLogger implements com.jcraft.jsch.Logger {
    private static final Logger LOG = Logger.getLogger("dev.gvproxy.ssh.jsch");

    @Override
    public boolean isEnabled(int level) {
        return LOG.isLoggable(map(level));
    }

    @Override
    public void log(int level, String message) {
        LOG.log(map(level), message);
    }

    private static Level map(int level) {
        return switch (level) {
            case DEBUG -> Level.FINEST;
            case INFO -> Level.FINE;
            case WARN -> Level.INFO;
            default -> Level.WARNING;
        };
    }
}
