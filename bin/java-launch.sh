# Sourced by bin/gvproxy-java and bin/gvforwarder-java once they know $home (the directory above bin/, symlinks
# resolved): sets $java, $jar and the JVM options, for either of the two layouts:
# - the distribution: $home/runtime is a jlink'd JDK 25 with only the modules gvproxy-java uses, $home/lib holds
#   the jar and gvproxy-java's AOT cache (trained at package time on that runtime and that jar);
# - a checkout: gvproxy/target/gvproxy-java.jar on the JDK the build used, whose java.home the build recorded in
#   gvproxy/target/java-settings (so neither JAVA_HOME nor a JDK 25 first on PATH is needed).
name="$(basename "$0")"
if [ -x "$home/runtime/bin/java" ]; then
  java="$home/runtime/bin/java"
  jar="$home/lib/gvproxy-java.jar"
else
  jar="$home/gvproxy/target/gvproxy-java.jar"
  settings="$home/gvproxy/target/java-settings"
  if [ ! -f "$jar" ] || [ ! -f "$settings" ]; then
    echo "$name: $jar not found; build it with: ./mvnw -q -B -DskipTests package" >&2
    exit 1
  fi
  java=""
  while IFS= read -r line; do
    case "$line" in *"java.home = "*) java="${line#*java.home = }/bin/java" ;; esac
  done < "$settings"
  if [ ! -x "$java" ]; then
    echo "$name: the JDK the build used ($java) is gone; rebuild with: ./mvnw -q -B -DskipTests package" >&2
    exit 1
  fi
fi
# A small network daemon: one event loop, a heap of a few MB (the packet buffers are off-heap, Netty's), SerialGC
# (no GC threads), no hsperfdata file; Netty's leak detection (paranoid in the tests) costs a sampled stack trace
# per buffer and stays off. C2 stays on: C1 alone (-XX:TieredStopAtLevel=1) starts one thread fewer and a little
# faster, but the data path's checksums and copies want C2 (GVPROXY_JAVA_OPTS can choose otherwise).
# Netty may use sun.misc.Unsafe (off by default on JDK 24+): its direct buffers are then freed without the FFM
# cleaner, whose downcall linking was a third of the start-up CPU (ready in ~330 ms instead of ~600 ms, 5 MB less
# RSS; benchmarks/README.md). JDK 25 allows it without a warning with --sun-misc-unsafe-memory-access=allow; the
# tests keep the FFM path (Netty's default), so both are exercised.
# Netty's allocator takes a heap of 512 MiB or less as a small machine and then pools no buffer above 16,896
# bytes: every larger one (a TAP read, a host TCP read of up to 1 MiB) became a malloc with page faults, a quarter
# of the loop and host->guest at 4 instead of 13-17 Gbit/s on some starts. Our heap is small because the buffers
# live off it, so that mode is off.
jvm_opts=(--enable-native-access=ALL-UNNAMED -XX:+UseSerialGC -XX:-UsePerfData -Xss512k -Xms8m -Xmx256m
  -Dio.netty.leakDetection.level=disabled -Dio.netty.noUnsafe=false --sun-misc-unsafe-memory-access=allow
  -Dio.netty.allocator.lowMemory=false)
