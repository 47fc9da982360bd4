package dev.gvproxy.platform.cli;

/** The version both binaries print ({@code gvproxy-java -version}, {@code gvforwarder-java -version}). */
public final class Version {
    /** Upstream's version shape ({@code v0.8.x}) with a suffix naming this implementation. */
    public static final String VERSION = "v0.1.0-java";

    private Version() {}
}
