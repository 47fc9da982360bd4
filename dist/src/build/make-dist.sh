#!/usr/bin/env bash
# Builds the distribution; dist/pom.xml runs it in the package phase:
#   make-dist.sh JAVA_SETTINGS TARGET VERSION JAR BIN MODULES
# JAVA_SETTINGS is `java -XshowSettings:properties -version` of the build's JDK (the toolchain), whose jlink makes
# the runtime. The tarball holds one directory:
#   bin/     gvproxy-java, gvforwarder-java, java-launch.sh (the checkout's launchers) and gvproxy -> gvproxy-java
#   lib/     gvproxy-java.jar and gvproxy-java.aot, the AOT cache of a training start on exactly this runtime and jar
#   runtime/ the jlink'd JDK: MODULES only, no debug attributes, man pages or headers
set -euo pipefail
settings=$1 target=$2 version=$3 jar=$4 bin=$5 modules=$6
java_home=""
while IFS= read -r line; do
  case "$line" in *"java.home = "*) java_home="${line#*java.home = }" ;; esac
done < "$settings"
[ -x "$java_home/bin/jlink" ] || { echo "make-dist: no jlink in the build's JDK ($java_home)" >&2; exit 1; }
[ -f "$jar" ] || { echo "make-dist: $jar not found (build the gvproxy module first)" >&2; exit 1; }
os=$(uname -s | tr '[:upper:]' '[:lower:]')
dist_name="gvproxy-java-$version-$os-$(uname -m)"
image="$target/$dist_name"
rm -rf "$image" "$target/$dist_name.tar.gz"
mkdir -p "$image/bin" "$image/lib"

# jlink and the training run are most of this script's time; a rebuild reuses their last output (kept beside the
# image, removed by `mvn clean`) while what they were made from is the same: the JDK, the modules, the jar and the
# launchers' options.
start=$(date +%s%N)
runtime_key="$java_home $(cat "$java_home/release" | md5sum) $modules"
if [ ! -d "$target/jlink-runtime" ] || [ "$(cat "$target/jlink-runtime.key" 2>/dev/null)" != "$runtime_key" ]; then
  rm -rf "$target/jlink-runtime" "$target/jlink-runtime.key"
  "$java_home/bin/jlink" --add-modules "$modules" --output "$target/jlink-runtime" \
    --strip-debug --no-man-pages --no-header-files
  echo "$runtime_key" > "$target/jlink-runtime.key"
fi
cp -a "$target/jlink-runtime" "$image/runtime"
jlinked=$(date +%s%N)
cp "$jar" "$image/lib/gvproxy-java.jar"
cp "$bin/gvproxy-java" "$bin/gvforwarder-java" "$bin/java-launch.sh" "$image/bin/"
ln -s gvproxy-java "$image/bin/gvproxy"

# The AOT training run, with the launcher's own JVM options (a cache made under other options is not used), on the
# image's java and jar as java-launch.sh sets them ($java, $jar): the cache records the runtime and the class path.
home="$image"
. "$image/bin/java-launch.sh"
aot_key="$runtime_key $(md5sum < "$jar") ${jvm_opts[*]}"
if [ ! -f "$target/gvproxy-java.aot" ] || [ "$(cat "$target/gvproxy-java.aot.key" 2>/dev/null)" != "$aot_key" ]; then
  rm -f "$target/gvproxy-java.aot" "$target/gvproxy-java.aot.key"
  if ! "$java" "${jvm_opts[@]}" -XX:AOTCacheOutput="$image/lib/gvproxy-java.aot" -cp "$jar" \
      dev.gvproxy.cli.AotTraining > "$target/aot-training.log" 2>&1; then
    cat "$target/aot-training.log" >&2
    echo "make-dist: the AOT training run failed" >&2
    exit 1
  fi
  cp "$image/lib/gvproxy-java.aot" "$target/gvproxy-java.aot"
  echo "$aot_key" > "$target/gvproxy-java.aot.key"
else
  cp "$target/gvproxy-java.aot" "$image/lib/gvproxy-java.aot"
fi
trained=$(date +%s%N)
# gzip -1: a few seconds less at every package for a tarball about 10% larger.
tar -C "$target" -cf - "$dist_name" | gzip -1 > "$target/$dist_name.tar.gz"
done_=$(date +%s%N)
echo "make-dist: $target/$dist_name.tar.gz ($(du -sh "$image" | cut -f1) unpacked, runtime $(du -sh "$image/runtime" | cut -f1)): jlink $(( (jlinked - start) / 1000000 )) ms, AOT training $(( (trained - jlinked) / 1000000 )) ms, tar $(( (done_ - trained) / 1000000 )) ms"
