package dev.gvproxy.platform;

import java.io.IOException;

/** A failed system call: carries the errno and the C library's text for it. */
public final class NativeException extends IOException {
    private static final long serialVersionUID = 1L;

    private final int errno;

    /**
     * @param what  what was attempted, e.g. {@code "ioctl(TUNSETIFF) tap0"}
     * @param errno the errno captured right after the call
     */
    public NativeException(String what, int errno) {
        super(what + ": " + Libc.strerror(errno) + " (errno " + errno + ")");
        this.errno = errno;
    }

    /** @return the errno of the failed call */
    public int errno() {
        return errno;
    }
}
