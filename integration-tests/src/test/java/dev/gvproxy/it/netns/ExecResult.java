package dev.gvproxy.it.netns;

/**
 * Outcome of a command run inside a guest namespace.
 *
 * @param exitCode the exit status, or -1 if it was killed on timeout
 * @param stdout   standard output (UTF-8)
 * @param stderr   standard error (UTF-8)
 */
public record ExecResult(int exitCode, String stdout, String stderr) {
    /** @return true for exit status 0 */
    public boolean ok() {
        return exitCode == 0;
    }

    /** @return this, or throws with the full output when the exit status is not 0 */
    public ExecResult check() {
        if (exitCode != 0) {
            throw new AssertionError("exit " + exitCode + "\nstdout:\n" + stdout + "\nstderr:\n" + stderr);
        }
        return this;
    }

    @Override
    public String toString() {
        return "exit " + exitCode + "\nstdout:\n" + stdout + "stderr:\n" + stderr;
    }
}
