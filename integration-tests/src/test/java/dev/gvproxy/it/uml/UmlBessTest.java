package dev.gvproxy.it.uml;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.sun.net.httpserver.HttpServer;
import dev.gvproxy.network.VirtualNetwork;
import dev.gvproxy.transport.Listener;
import dev.gvproxy.transport.Transports;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A User-Mode Linux guest on {@code -listen-bess}: DHCP lease, ping of the gateway, an HTTP download from a host
 * 127.0.0.1 server through 192.168.127.254 checked byte-exact (SHA-256), then power-off; a second boot on the same
 * listener shows that a VM can come back (gvproxy would have exited after the first).
 */
class UmlBessTest {
    static final Path UML = Path.of("/usr/bin/linux.uml");
    static final String MAC = "5a:94:ef:e4:0c:ee";
    /**
     * Passed to init as an environment variable (unknown {@code KEY=VALUE} kernel parameters are): with the shim
     * below UML saves only the FXSAVE area of guest processes, so their glibc must not use AVX/AVX-512 registers
     * (otherwise they are corrupted across context switches: garbled printf output, wrong arguments).
     */
    static final String GLIBC_SSE_ONLY = "GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX,-AVX2,-AVX512F,-AVX512BW,-AVX512CD,"
            + "-AVX512DQ,-AVX512VL,-FMA,-AVX_Fast_Unaligned_Load";
    static final int FILE_SIZE = 3 * 1024 * 1024 + 17;

    @TempDir
    Path dir;

    VirtualNetwork net;
    HttpServer http;
    Process uml;
    Path shim;

    @AfterEach
    void tearDown() throws Exception {
        if (uml != null && uml.isAlive()) {
            // our own child, by handle; UML spawns helper threads as processes: take the whole tree
            uml.descendants().forEach(ProcessHandle::destroyForcibly);
            uml.destroyForcibly();
            uml.waitFor(30, TimeUnit.SECONDS);
        }
        if (http != null) {
            http.stop(0);
        }
        if (net != null) {
            net.close();
        }
    }

    static void assumeUml() {
        Assumptions.assumeTrue(Files.isExecutable(UML), "linux.uml missing (apt-get install user-mode-linux)");
        for (String tool : new String[] {"/usr/sbin/dhclient", "/usr/bin/ping", "/usr/bin/wget", "/usr/sbin/ip"}) {
            Assumptions.assumeTrue(Files.isExecutable(Path.of(tool)), tool + " missing (the UML guest runs the host's tools)");
        }
    }

    /**
     * The guest's init, run by the host's dash: every tool comes from the read-only host fs (dynamically linked:
     * the static busybox crashes under UML 6.1, its TLS access faults), scratch space is a tmpfs at /run. DHCP is
     * ISC dhclient with our own script, which applies the lease with iproute2.
     */
    static String initScript(int httpPort, String marker) {
        return """
                #!/bin/sh
                export PATH=/usr/sbin:/usr/bin:/sbin:/bin
                mount -t proc proc /proc
                mount -t sysfs sys /sys
                mount -t tmpfs -o size=32m tmpfs /run
                IF=
                for n in $(ls /sys/class/net); do [ "$n" != lo ] && IF=$n && break; done
                echo "UML-IFACE=$IF"
                ip link set lo up
                ip link set "$IF" up
                cat > /run/dhcp.sh <<'EOS'
                #!/bin/sh
                case "$reason" in
                  BOUND|RENEW|REBIND|REBOOT)
                    ip addr flush dev "$interface"
                    ip addr add "$new_ip_address/$new_subnet_mask" dev "$interface"
                    r=${new_routers%%%% *}
                    [ -n "$r" ] && ip route replace default via "$r" dev "$interface"
                    echo "UML-LEASE=$new_ip_address/$new_subnet_mask router=$new_routers"
                    ;;
                esac
                exit 0
                EOS
                chmod +x /run/dhcp.sh
                timeout 60 dhclient -1 -sf /run/dhcp.sh -lf /run/dhclient.leases -pf /run/dhclient.pid "$IF" || echo "UML-FAIL=dhcp"
                ip -4 addr show dev "$IF"
                if ping -c 3 -W 5 192.168.127.1 > /run/ping.txt 2>&1; then echo "UML-PING=ok"; else echo "UML-FAIL=ping"; cat /run/ping.txt; fi
                if wget -q -T 30 -t 2 -O /run/file http://192.168.127.254:%d/file; then
                  echo "UML-SHA256=$(sha256sum /run/file | cut -d' ' -f1) size=$(stat -c %%s /run/file)"
                else
                  echo "UML-FAIL=wget"
                fi
                echo "%s"
                [ -f /run/dhclient.pid ] && kill "$(cat /run/dhclient.pid)" 2>/dev/null
                poweroff -f
                """.formatted(httpPort, marker);
    }

    /**
     * Debian's UML 6.1 cannot run user processes on hosts whose XSAVE area includes AMX state: its fixed-size
     * {@code PTRACE_SETREGSET(NT_X86_XSTATE)} buffer is refused with {@code EFAULT} ("ptrace set fp regs failed").
     * This preloaded shim makes the XSTATE regset calls fail, so UML falls back to {@code PTRACE_GETFPREGS}
     * (the 512-byte FXSAVE area), which works everywhere. Built with the host's gcc; null if there is none.
     */
    Path noXstateShim() throws Exception {
        if (!Files.isExecutable(Path.of("/usr/bin/gcc"))) {
            return null;
        }
        Path src = dir.resolve("noxstate.c");
        Path so = dir.resolve("noxstate.so");
        Files.writeString(src, """
                #define _GNU_SOURCE
                #include <dlfcn.h>
                #include <errno.h>
                #include <stdarg.h>
                #include <sys/types.h>
                #define NT_X86_XSTATE 0x202
                #define PTRACE_GETREGSET 0x4204
                #define PTRACE_SETREGSET 0x4205
                long ptrace(int req, ...) {
                  va_list ap; va_start(ap, req);
                  pid_t pid = va_arg(ap, pid_t); void *addr = va_arg(ap, void *); void *data = va_arg(ap, void *);
                  va_end(ap);
                  if ((req == PTRACE_GETREGSET || req == PTRACE_SETREGSET) && (long) addr == NT_X86_XSTATE) {
                    errno = EIO;
                    return -1;
                  }
                  static long (*real)(int, ...);
                  if (!real) real = (long (*)(int, ...)) dlsym(RTLD_NEXT, "ptrace");
                  return real(req, pid, addr, data);
                }
                """);
        Process gcc = new ProcessBuilder("/usr/bin/gcc", "-shared", "-fPIC", "-O2", "-o", so.toString(), src.toString(),
                "-ldl").redirectErrorStream(true).start();
        String out = new String(gcc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!gcc.waitFor(120, TimeUnit.SECONDS) || gcc.exitValue() != 0) {
            fail("cannot build the UML xstate shim: " + out);
        }
        return so;
    }

    /** Boots UML on the BESS socket and returns its console output once it exits. */
    String boot(Path bess, Path init) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(UML.toString(),
                "vec0:transport=bess,dst=" + bess + ",depth=128,mac=" + MAC,
                "root=/dev/root", "rootfstype=hostfs", "rootflags=/", "ro", "init=" + init,
                "mem=128M", "con=null", "con0=fd:0,fd:1", GLIBC_SSE_ONLY)
                .redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        pb.environment().put("TMPDIR", dir.toString()); // UML's memory file
        if (shim != null) {
            pb.environment().put("LD_PRELOAD", shim.toString());
        }
        uml = pb.start();
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        Thread reader = Thread.ofPlatform().daemon().start(() -> {
            try (InputStream in = uml.getInputStream()) {
                in.transferTo(console);
            } catch (IOException ignored) {
                // process gone
            }
        });
        // Generous: these machines are loaded; the boot itself takes about a second.
        if (!uml.waitFor(180, TimeUnit.SECONDS)) {
            uml.descendants().forEach(ProcessHandle::destroyForcibly);
            uml.destroyForcibly();
            reader.join(5000);
            fail("UML did not power off within 180 s; console:\n" + console.toString(StandardCharsets.UTF_8)
                    + "\ncounters: " + net.internals().counters().snapshot());
        }
        reader.join(10_000);
        return console.toString(StandardCharsets.UTF_8);
    }

    static String line(String console, String key) {
        for (String l : console.split("\r?\n")) {
            int i = l.indexOf(key);
            if (i >= 0) {
                return l.substring(i + key.length()).strip();
            }
        }
        return null;
    }

    @Test
    void umlGuestGetsLeasePingsAndDownloadsByteExact() throws Exception {
        assumeUml();
        shim = noXstateShim();
        byte[] body = new byte[FILE_SIZE];
        new SplittableRandom(42).nextBytes(body);
        String expected = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(body));
        http = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        http.createContext("/file", ex -> {
            ex.sendResponseHeaders(200, body.length);
            try (OutputStream o = ex.getResponseBody()) {
                o.write(body);
            }
        });
        http.start();

        net = VirtualNetwork.builder().build();
        Path bess = dir.resolve("bess.sock");
        Listener l = Transports.listenBess("unixpacket://" + bess, net.internals().transportContext());

        for (int boot = 1; boot <= 2; boot++) {
            String marker = "UML-DONE-" + boot;
            Path init = dir.resolve("init" + boot + ".sh");
            Files.writeString(init, initScript(http.getAddress().getPort(), marker));
            Files.setPosixFilePermissions(init, PosixFilePermissions.fromString("rwxr-xr-x"));
            String console = boot(bess, init);
            String diag = "\n--- console (boot " + boot + ") ---\n" + console + "\ncounters: " + net.internals().counters().snapshot();
            assertTrue(console.contains(marker), "init did not finish" + diag);
            String lease = line(console, "UML-LEASE=");
            assertTrue(lease != null && lease.startsWith("192.168.127.") && lease.contains("router=192.168.127.1"),
                    "no DHCP lease" + diag);
            assertEquals("ok", line(console, "UML-PING="), "gateway ping" + diag);
            assertEquals(expected + " size=" + FILE_SIZE, line(console, "UML-SHA256="), "download" + diag);
            assertTrue(!console.contains("UML-FAIL"), diag);
            assertTrue(!l.closeFuture().isDone(), "the listener survives the VM");
        }
        // The same MAC came back: DHCP gave it the same address both times (leases outlive ports).
        assertTrue(net.internals().counters().get("transport.portError") == 0, () -> net.internals().counters().snapshot().toString());
    }
}
