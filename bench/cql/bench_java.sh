#!/usr/bin/env bash
# Runs the Java driver peer of bench/cql (java/BenchJava.java): resolves the
# driver from Maven Central into a cache outside git once, compiles the one
# source file, and runs it. Usage: bench_java.sh <concurrency> <count>
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
key=$(cat "$here/java/pom.xml" "$here/java/BenchJava.java" | sha256sum | cut -c1-16)
cache=${RIVULET_CACHE:-$HOME/.cache/rivulet}/bench-cql-java/$key
if [[ ! -f "$cache/ready" ]]; then
    mkdir -p "$cache"
    mvn -q -B -f "$here/java/pom.xml" -Dmaven.repo.local="$cache/m2" \
        dependency:copy-dependencies -DoutputDirectory="$cache/lib" >&2
    javac -d "$cache/classes" -cp "$cache/lib/*" "$here/java/BenchJava.java" >&2
    touch "$cache/ready"
fi
exec java -Xmx512m -cp "$cache/classes:$cache/lib/*" BenchJava "$@"
