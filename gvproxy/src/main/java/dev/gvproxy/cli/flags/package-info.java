/**
 * Go {@code flag}-package-compatible command-line parsing.
 *
 * <p>Theory of operation: gvproxy and gvforwarder are started by tools (Podman, CRC, Lima, ...) that build argument
 * lists for Go's {@code flag} package, so a drop-in must accept exactly what Go accepts and reject what Go rejects,
 * with the same messages and exit codes. {@link dev.gvproxy.cli.flags.GoFlagSet} walks the arguments the way
 * {@code FlagSet.parseOne} does (single pass, stop at the first positional or {@code --}, booleans never take the
 * next argument), parses numbers like {@code strconv} with base 0, and formats the usage like {@code PrintDefaults}.
 * Parsing returns a result instead of exiting so the rules can be tested table-style; the {@code main} methods exit.
 */
package dev.gvproxy.cli.flags;
