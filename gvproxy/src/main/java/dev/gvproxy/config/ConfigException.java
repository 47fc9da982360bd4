package dev.gvproxy.config;

/** A configuration or validation error; the message is what gvproxy-java logs before exiting 1. */
public final class ConfigException extends Exception {
    public ConfigException(String message) {
        super(message);
    }

    public ConfigException(String message, Throwable cause) {
        super(message, cause);
    }
}
