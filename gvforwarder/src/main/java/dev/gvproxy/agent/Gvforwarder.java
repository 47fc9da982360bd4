package dev.gvproxy.agent;

import dev.gvproxy.stack.link.Impairment;
import dev.gvproxy.transport.tap.TapDevice;
import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.ClosedChannelException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The guest agent, usable in-process: a TAP interface pumped to gvproxy's {@code /connect} (2-byte little-endian
 * length prefixes), with gvforwarder's reconnect loop (spec 2.3, 2.4).
 *
 * <p>One attempt: dial the URL, send the raw {@code POST /connect} (not for stdio), open the TAP (in the netns if
 * any), unless {@code preexisting} set the MAC + link up and start the DHCP client, then run two platform threads
 * (TAP to socket, socket to TAP). The first failure of any of them (I/O error, EOF, a zero length, a DHCP client
 * exiting non-zero) ends the attempt: everything is closed, the DHCP client is killed, and after
 * {@link Options#retryDelay()} everything is redone. {@link #close} ends the loop.
 */
public final class Gvforwarder implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger("gvforwarder");
    /** Bytes of frames the TAP-to-gvproxy pump gathers into one write. */
    private static final int BATCH = 256 * 1024;
    private static final Throwable STOP = new Throwable("stopped", null, false, false) {
        private static final long serialVersionUID = 1L;
    };

    /** Where the agent is in its loop. */
    public enum State { CONNECTING, RUNNING, STOPPED }

    private final Options options;
    private final AgentUrl url;
    private final byte[] mac;
    private final Path script;
    private final Thread loop;
    private final CountDownLatch stopped = new CountDownLatch(1);
    private final AtomicLong framesToGvproxy = new AtomicLong();
    private final AtomicLong framesFromGvproxy = new AtomicLong();
    private final AtomicLong attempts = new AtomicLong();
    private final ImpairedWriter.Stats impairStats = new ImpairedWriter.Stats();
    private volatile boolean stopping;
    private volatile State state = State.CONNECTING;
    private volatile Throwable lastError;
    private Attempt current; // guarded by this

    private Gvforwarder(Options options) throws IOException {
        this.options = options;
        this.url = AgentUrl.parse(options.url());
        this.mac = options.mac().isEmpty() ? null : TapDevice.parseMac(options.mac());
        this.script = options.preexisting() ? null : DhcpClient.extractScript();
        this.loop = Thread.ofPlatform().name("gvforwarder-" + options.iface()).daemon(true).unstarted(this::run);
    }

    /**
     * Validates the options and starts the loop on its own platform thread.
     *
     * @throws IOException for an unusable URL or MAC, before anything is started
     */
    public static Gvforwarder start(Options options) throws IOException {
        Gvforwarder g;
        try {
            g = new Gvforwarder(options);
        } catch (IllegalArgumentException e) {
            throw new IOException(e.getMessage(), e);
        }
        g.loop.start();
        return g;
    }

    /** @return the options it runs with */
    public Options options() {
        return options;
    }

    /** @return the current state */
    public State state() {
        return state;
    }

    /** @return how many connection attempts have started */
    public long attempts() {
        return attempts.get();
    }

    /** @return frames read from the TAP and sent to gvproxy */
    public long framesToGvproxy() {
        return framesToGvproxy.get();
    }

    /** @return frames received from gvproxy and written to the TAP */
    public long framesFromGvproxy() {
        return framesFromGvproxy.get();
    }

    /** @return frames dropped by the test impairment ({@link Options#impair}), both directions */
    public long framesDroppedByImpairment() {
        return impairStats.dropped().get();
    }

    /** @return extra copies sent by the test impairment, both directions */
    public long framesDuplicatedByImpairment() {
        return impairStats.duplicated().get();
    }

    /** @return frames the test impairment delayed or held back, both directions */
    public long framesDelayedByImpairment() {
        return impairStats.delayed().get();
    }

    /** @return the error that ended the last attempt, or {@code null} */
    public Throwable lastError() {
        return lastError;
    }

    /** @return PIDs of the processes this agent runs now (DHCP client, stdio child and their descendants) */
    public synchronized List<Long> childPids() {
        List<Long> pids = new ArrayList<>();
        if (current != null) {
            for (Process p : current.processes()) {
                pids.add(p.pid());
                p.descendants().forEach(d -> pids.add(d.pid()));
            }
        }
        return pids;
    }

    /**
     * Waits until an attempt is pumping frames.
     *
     * @return true if it is, false on timeout or when stopped
     */
    public boolean awaitRunning(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (this) {
            while (state != State.RUNNING && !stopping) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                TimeUnit.NANOSECONDS.timedWait(this, left);
            }
            return state == State.RUNNING;
        }
    }

    private synchronized void setState(State s) {
        state = s;
        notifyAll();
    }

    private void run() {
        try {
            while (!stopping) {
                attempts.incrementAndGet();
                try {
                    attempt();
                } catch (Throwable t) {
                    if (!stopping) {
                        lastError = t;
                        LOG.log(Level.SEVERE, "gvforwarder attempt failed: " + t, options.debug() ? t : null);
                    }
                }
                if (stopping) {
                    break;
                }
                setState(State.CONNECTING);
                if (stopped.await(options.retryDelay().toNanos(), TimeUnit.NANOSECONDS)) {
                    break;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            setState(State.STOPPED);
            if (script != null) {
                try {
                    Files.deleteIfExists(script);
                } catch (IOException e) {
                    LOG.fine("cannot delete " + script + ": " + e);
                }
            }
        }
    }

    private void attempt() throws Throwable {
        Attempt a = new Attempt();
        synchronized (this) {
            if (stopping) {
                return;
            }
            current = a;
        }
        try {
            a.stream = url.dial();
            LOG.info("connected to " + a.stream.describe());
            a.vnet = options.offload();
            a.in = ByteBuffer.allocateDirect(4 * 65536).order(ByteOrder.LITTLE_ENDIAN);
            a.in.flip();
            if (url.request() != null) {
                a.stream.writeFully(ByteBuffer.wrap(a.vnet ? AgentUrl.connectRequestVnet(url.request())
                        : AgentUrl.connectRequest(url.request())));
                if (a.vnet) {
                    awaitUpgrade(a);
                }
            }
            a.tap = TapDevice.open(options.iface(), options.netns(), a.vnet);
            if (a.vnet) {
                LOG.info("TAP offloads 0x" + Integer.toHexString(a.tap.offloads()) + ", virtio-net header framing");
            }
            if (!options.preexisting()) {
                if (mac != null) {
                    a.tap.setMac(mac);
                }
                a.tap.setUp();
            }
            a.start("tap-to-gvproxy", () -> tapToStream(a));
            a.start("gvproxy-to-tap", () -> streamToTap(a));
            if (!options.preexisting()) {
                a.dhcp = DhcpClient.start(options.dhcpClient(), a.tap.name(), options.netns(), script,
                        options.resolvConf());
                a.start("dhcp-wait", () -> waitDhcp(a));
            }
            LOG.info("waiting for packets...");
            setState(State.RUNNING);
            Throwable t = a.errors.take();
            if (t != STOP) {
                throw t;
            }
        } finally {
            synchronized (this) {
                current = null;
            }
            a.close();
        }
    }

    /**
     * Reads gvproxy-java's {@code 101} reply to the offload request (up to the blank line; bytes after it are
     * frames and stay in {@code a.in}). Another gvproxy does not reply: after 5 s the connection is closed and
     * the attempt fails.
     */
    private void awaitUpgrade(Attempt a) throws IOException {
        Thread watchdog = Thread.ofVirtual().start(() -> {
            try {
                Thread.sleep(Duration.ofSeconds(5));
                LOG.warning("no reply to the offload request (gvproxy-java only): closing");
                a.stream.close();
            } catch (InterruptedException | IOException e) {
                // replied in time
            }
        });
        try {
            ByteBuffer in = a.in;
            while (true) {
                int end = headerEnd(in);
                if (end >= 0) {
                    byte[] head = new byte[end];
                    in.get(head);
                    String text = new String(head, java.nio.charset.StandardCharsets.US_ASCII);
                    if (!text.startsWith("HTTP/1.1 101") || !text.toLowerCase(java.util.Locale.ROOT)
                            .contains(AgentUrl.VNET_UPGRADE)) {
                        throw new IOException("gvproxy refused the offload framing: " + text.lines().findFirst()
                                .orElse(""));
                    }
                    return;
                }
                if (in.remaining() > 4096) {
                    throw new IOException("no HTTP reply to the offload request");
                }
                in.compact();
                int n = a.stream.read(in);
                in.flip();
                if (n < 0) {
                    throw new EOFException("connection closed by gvproxy before it replied to the offload request");
                }
            }
        } finally {
            watchdog.interrupt();
        }
    }

    /** Index just past the {@code \r\n\r\n} ending an HTTP head at {@code in}'s position, relative; -1 if none. */
    private static int headerEnd(ByteBuffer in) {
        for (int i = in.position(); i + 3 < in.limit(); i++) {
            if (in.get(i) == '\r' && in.get(i + 1) == '\n' && in.get(i + 2) == '\r' && in.get(i + 3) == '\n') {
                return i + 4 - in.position();
            }
        }
        return -1;
    }

    /** Bytes of the length prefix: 2 (little-endian, gvforwarder's) or 4 (big-endian, the offload framing). */
    private static int header(Attempt a) {
        return a.vnet ? 4 : 2;
    }

    /** Room for one frame as the TAP hands it over: MTU + 14, or a virtio-net header and a 64 KiB TSO frame. */
    private int frameRoom(Attempt a) {
        return a.vnet ? TapDevice.VNET_HDR_LEN + 14 + 65535 : options.mtu() + 14;
    }

    private static void putLength(Attempt a, ByteBuffer buf, int pos, int n) {
        if (a.vnet) {
            buf.putInt(pos, Integer.reverseBytes(n)); // big-endian in a little-endian buffer
        } else {
            buf.putShort(pos, (short) n);
        }
    }

    private static int getLength(Attempt a, ByteBuffer buf, int pos) {
        return a.vnet ? Integer.reverseBytes(buf.getInt(pos)) : buf.getShort(pos) & 0xffff;
    }

    private void tapToStream(Attempt a) throws IOException {
        ImpairedWriter impaired = a.impaired(options.impairToGvproxy(), "to-gvproxy", f -> a.stream.writeFully(f));
        if (impaired == null && !options.debug()) {
            tapToStreamBatched(a);
            return;
        }
        int hdr = header(a);
        ByteBuffer buf = ByteBuffer.allocateDirect(hdr + frameRoom(a)).order(ByteOrder.LITTLE_ENDIAN);
        int vnet = a.vnet ? TapDevice.VNET_HDR_LEN : 0;
        while (true) {
            buf.clear().position(hdr);
            int n = a.tap.read(buf);
            putLength(a, buf, 0, n);
            buf.flip();
            if (options.debug()) {
                LOG.info("tap -> gvproxy: " + FrameLog.describe(buf, hdr + vnet, n - vnet));
            }
            if (impaired == null) {
                a.stream.writeFully(buf); // header + frame in one write
            } else {
                impaired.submit(buf);
            }
            framesToGvproxy.incrementAndGet();
        }
    }

    /**
     * The fast path: block for one frame, then take every frame the TAP already holds (up to {@link #BATCH}
     * bytes) and send them all with one write. Under load this turns two syscalls per frame into about one,
     * and the TAP's queue (where the guest kernel drops frames when the pump falls behind) drains faster.
     */
    private void tapToStreamBatched(Attempt a) throws IOException {
        int hdr = header(a);
        int frameRoom = hdr + frameRoom(a);
        ByteBuffer buf = ByteBuffer.allocateDirect(Math.max(BATCH, 2 * frameRoom)).order(ByteOrder.LITTLE_ENDIAN);
        MemorySegment seg = MemorySegment.ofBuffer(buf);
        boolean drained = false; // the last batch ended on an empty queue: wait before the next read
        while (true) {
            buf.clear(); // absolute puts check the limit, which the last write left at its end
            int pos = 0;
            int frames = 0;
            do {
                MemorySegment dst = seg.asSlice(pos + hdr, frameRoom - hdr);
                int n = frames == 0 ? a.tap.read(dst, drained) : a.tap.readNow(dst);
                drained = n == 0;
                if (n == 0) {
                    break;
                }
                putLength(a, buf, pos, n);
                pos += hdr + n;
                frames++;
            } while (buf.capacity() - pos >= frameRoom);
            buf.clear().limit(pos);
            a.stream.writeFully(buf);
            framesToGvproxy.addAndGet(frames);
        }
    }

    private void streamToTap(Attempt a) throws IOException {
        // Read in large chunks and cut frames out: one read(2) usually carries many frames.
        ByteBuffer in = a.in; // may hold frames that came with the offload reply
        ImpairedWriter impaired = a.impaired(options.impairToTap(), "to-tap", f -> a.tap.write(f));
        int hdr = header(a);
        int vnet = a.vnet ? TapDevice.VNET_HDR_LEN : 0;
        while (true) {
            fill(a.stream, in, hdr);
            int len = getLength(a, in, in.position());
            if (len <= vnet || len > in.capacity() - hdr) {
                throw new IOException("invalid frame length " + len + " from gvproxy");
            }
            fill(a.stream, in, hdr + len);
            ByteBuffer frame = in.slice(in.position() + hdr, len);
            if (options.debug()) {
                LOG.info("gvproxy -> tap: " + FrameLog.describe(frame, vnet, len - vnet));
            }
            if (impaired == null) {
                a.tap.write(frame);
            } else {
                impaired.submit(frame);
            }
            in.position(in.position() + hdr + len);
            framesFromGvproxy.incrementAndGet();
        }
    }

    /** Ensures {@code need} readable bytes in {@code in} (read mode: position..limit). */
    private static void fill(ByteStream s, ByteBuffer in, int need) throws IOException {
        while (in.remaining() < need) {
            in.compact();
            int n = s.read(in);
            in.flip();
            if (n < 0) {
                throw new EOFException("connection closed by gvproxy");
            }
        }
    }

    private void waitDhcp(Attempt a) throws IOException, InterruptedException {
        int code = a.dhcp.process().waitFor();
        if (code != 0) {
            throw new IOException("dhcp error: DHCP client exited with status " + code);
        }
        LOG.info("DHCP client finished");
        // udhcpc -q exits once it has a lease: not an error; keep pumping.
        a.blockForever();
    }

    /** Stops the loop, closes the TAP and connection, and kills the DHCP client; waits up to 10 s. */
    @Override
    public void close() {
        Attempt a;
        synchronized (this) {
            if (stopping) {
                a = null;
            } else {
                stopping = true;
                a = current;
                notifyAll();
            }
        }
        stopped.countDown();
        if (a != null) {
            a.errors.add(STOP);
            a.closeIo(); // wakes a dial or pump blocked on I/O
        }
        try {
            loop.join(Duration.ofSeconds(10));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Resources of one connection attempt. */
    private final class Attempt {
        final LinkedBlockingQueue<Throwable> errors = new LinkedBlockingQueue<>();
        final List<Thread> threads = new ArrayList<>();
        final List<ImpairedWriter> impairers = new java.util.concurrent.CopyOnWriteArrayList<>();
        final CountDownLatch done = new CountDownLatch(1);
        volatile ByteStream stream;
        volatile TapDevice tap;
        /** The offload framing was negotiated: TAP with a virtio-net header, 4-byte big-endian lengths. */
        volatile boolean vnet;
        /** Bytes from gvproxy not yet written to the TAP (read mode). */
        volatile ByteBuffer in;
        volatile DhcpClient dhcp;

        interface Body {
            void run() throws Exception;
        }

        void start(String name, Body body) {
            Thread t = Thread.ofPlatform().name(name + "-" + options.iface()).daemon(true).start(() -> {
                try {
                    body.run();
                } catch (Throwable e) {
                    errors.add(closedDuringStop(e) ? STOP : e);
                }
            });
            threads.add(t);
        }

        private boolean closedDuringStop(Throwable e) {
            return (e instanceof ClosedChannelException || e instanceof AsynchronousCloseException
                    || e instanceof InterruptedException) && done.getCount() == 0;
        }

        ImpairedWriter impaired(Impairment imp, String name, ImpairedWriter.Output out) {
            if (imp == null) {
                return null;
            }
            ImpairedWriter w = new ImpairedWriter(imp, out, name + "-" + options.iface(), impairStats,
                    e -> errors.add(closedDuringStop(e) ? STOP : e));
            impairers.add(w);
            return w;
        }

        void blockForever() throws InterruptedException {
            done.await();
        }

        List<Process> processes() {
            List<Process> ps = new ArrayList<>();
            DhcpClient d = dhcp;
            if (d != null) {
                ps.add(d.process());
            }
            return ps;
        }

        void closeIo() {
            done.countDown();
            ByteStream s = stream;
            if (s != null) {
                try {
                    s.close();
                } catch (IOException e) {
                    LOG.fine("closing connection: " + e);
                }
            }
            TapDevice t = tap;
            if (t != null) {
                t.close();
            }
        }

        void close() {
            closeIo();
            impairers.forEach(ImpairedWriter::close);
            DhcpClient d = dhcp;
            if (d != null) {
                d.close();
            }
            for (Thread t : threads) {
                try {
                    t.join(5000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }
}
