package dev.gvproxy.agent;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/** PATH look-ups for the external tools the agent runs. */
final class Executables {
    private static final ConcurrentHashMap<String, Boolean> BUSYBOX_APPLETS = new ConcurrentHashMap<>();

    private Executables() {}

    /** @return the first executable named {@code name} on PATH (plus the sbin directories), or {@code null} */
    static Path find(String name) {
        String path = System.getenv().getOrDefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        for (String dir : (path + ":/usr/local/sbin:/usr/sbin:/sbin").split(":")) {
            if (dir.isEmpty()) {
                continue;
            }
            Path p = Path.of(dir, name);
            if (Files.isRegularFile(p) && Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }

    /** @return the {@code ip} command (iproute2) */
    static String ipCommand() {
        Path ip = find("ip");
        return ip == null ? "ip" : ip.toString();
    }

    /** @return true if {@code busybox --list} names the applet (cached) */
    static boolean busyboxHas(Path busybox, String applet) {
        return BUSYBOX_APPLETS.computeIfAbsent(busybox + " " + applet, k -> {
            try {
                Process p = new ProcessBuilder(busybox.toString(), "--list").redirectErrorStream(true).start();
                p.getOutputStream().close();
                String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                if (!p.waitFor(5, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                    return false;
                }
                return out.lines().anyMatch(applet::equals);
            } catch (IOException e) {
                return false;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        });
    }
}
