/**
 * What both binaries (gvproxy-java and the guest agent gvforwarder-java) share at their command line: Go
 * {@code flag}-package-compatible parsing, gvproxy's log format and log file, the version string. It lives here, below
 * both, so that the guest agent never depends on the host CLI.
 *
 * <p>Theory of operation: gvproxy and gvforwarder are started by tools (Podman, CRC, Lima, ...) that build argument
 * lists for Go's {@code flag} package, so a drop-in must accept exactly what Go accepts and reject what Go rejects,
 * with the same messages and exit codes. {@link dev.gvproxy.platform.cli.GoFlagSet} walks the arguments the way
 * {@code FlagSet.parseOne} does (single pass, stop at the first positional or {@code --}, booleans never take the
 * next argument), parses numbers like {@code strconv} with base 0, and formats the usage like {@code PrintDefaults}.
 * Parsing returns a result instead of exiting so the rules can be tested table-style; the {@code main} methods exit.
 */
package dev.gvproxy.platform.cli;
