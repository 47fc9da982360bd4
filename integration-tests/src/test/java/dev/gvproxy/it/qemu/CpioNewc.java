package dev.gvproxy.it.qemu;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Writes a small uncompressed cpio archive in the {@code newc} format, used to append files to the base initramfs
 * (the kernel unpacks concatenated archives in order, later entries overwriting earlier ones). Owner is always root.
 */
public final class CpioNewc {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private int ino = 1;

    /** Adds a directory (parents must be added first, or exist in an earlier archive). */
    public CpioNewc directory(String path, int mode) {
        entry(path, 0040000 | (mode & 07777), new byte[0]);
        return this;
    }

    /** Adds a regular file. */
    public CpioNewc file(String path, int mode, byte[] content) {
        entry(path, 0100000 | (mode & 07777), content);
        return this;
    }

    /** Finishes the archive (trailer) and returns its bytes. */
    public byte[] finish() {
        entry("TRAILER!!!", 0, new byte[0]);
        return out.toByteArray();
    }

    private void entry(String path, int mode, byte[] content) {
        String name = path.startsWith("/") ? path.substring(1) : path;
        byte[] nameBytes = (name + "\0").getBytes(StandardCharsets.UTF_8);
        StringBuilder h = new StringBuilder("070701");
        int nlink = (mode & 0170000) == 0040000 ? 2 : 1;
        for (int v : new int[] {name.equals("TRAILER!!!") ? 0 : ino++, mode, 0, 0, nlink, 0, content.length, 0, 0, 0, 0,
                nameBytes.length, 0}) {
            h.append(String.format("%08x", v));
        }
        out.writeBytes(h.toString().getBytes(StandardCharsets.US_ASCII));
        out.writeBytes(nameBytes);
        pad();
        out.writeBytes(content);
        pad();
    }

    private void pad() {
        while (out.size() % 4 != 0) {
            out.write(0);
        }
    }
}
