package dev.gvproxy.agent;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * {@code stdio:} URLs: a child process whose stdin receives frames and whose stdout produces them. Its stderr is
 * copied to our log (inheriting it could corrupt a test runner's own stdio protocol).
 */
final class ProcessStream implements ByteStream {
    private static final Logger LOG = Logger.getLogger("gvforwarder");

    private final Process process;
    private final InputStream in;
    private final OutputStream out;
    private final String description;
    private byte[] readBuf = new byte[0];
    private byte[] writeBuf = new byte[0];

    private ProcessStream(Process process, String description) {
        this.process = process;
        this.in = process.getInputStream();
        this.out = process.getOutputStream();
        this.description = description;
    }

    static ProcessStream start(List<String> command) throws IOException {
        Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.PIPE).start();
        String name = command.getFirst();
        Thread.ofVirtual().name("stdio-stderr-" + p.pid()).start(() -> LineLogger.copy(p.getErrorStream(), name));
        return new ProcessStream(p, "stdio " + command + " (pid " + p.pid() + ")");
    }

    long pid() {
        return process.pid();
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        int want = dst.remaining();
        if (dst.hasArray()) {
            int n = in.read(dst.array(), dst.arrayOffset() + dst.position(), want);
            if (n > 0) {
                dst.position(dst.position() + n);
            }
            return n;
        }
        if (readBuf.length < want) {
            readBuf = new byte[Math.max(want, 4096)];
        }
        int n = in.read(readBuf, 0, want);
        if (n > 0) {
            dst.put(readBuf, 0, n);
        }
        return n;
    }

    @Override
    public void writeFully(ByteBuffer src) throws IOException {
        int len = src.remaining();
        if (src.hasArray()) {
            out.write(src.array(), src.arrayOffset() + src.position(), len);
            src.position(src.limit());
        } else {
            if (writeBuf.length < len) {
                writeBuf = new byte[Math.max(len, 4096)];
            }
            src.get(writeBuf, 0, len);
            out.write(writeBuf, 0, len);
        }
        out.flush();
    }

    @Override
    public String describe() {
        return description;
    }

    @Override
    public void close() {
        process.descendants().forEach(ProcessHandle::destroy);
        process.destroy();
        try {
            if (!process.waitFor(2, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
        try {
            in.close();
        } catch (IOException e) {
            LOG.log(Level.FINE, "closing child stdout", e);
        }
        try {
            out.close();
        } catch (IOException e) {
            LOG.log(Level.FINE, "closing child stdin", e);
        }
    }
}
