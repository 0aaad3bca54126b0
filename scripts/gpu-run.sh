#!/usr/bin/env bash
# Packs what a GPU machine with an NVIDIA driver and nothing else (no Vulkan loader, no Rust)
# needs to run the GPU parity suite and `hopfield bench --workloads all`, then prints the one
# command to run there. Nothing here needs a GPU. docs/gpu-machine.md explains the recipe.
#
#   bash scripts/gpu-run.sh     # .gl/ (the loader, fetched once) and .gpu/ (binaries, run.sh)
#
# Builds in release: several minutes the first time on a small machine. Not part of
# scripts/test.sh, which must not build release a second time.
set -euo pipefail
cd "$(dirname "$0")/.."

# The suite's test targets (tests/NAME.rs), each with the filter its tests run under: the
# GPU half (gpu::) of the suites written once for both backends, and every test of counters,
# which opens its own GPU. run.sh's HOPFIELD_GPU_TESTS takes the same NAME:FILTER words.
SUITE="parity:gpu:: kernels:gpu:: layers:gpu:: scale:gpu:: counters:"
# What may travel with the working tree to the GPU machine, in all.
LIMIT=$((64 * 1024 * 1024))
# The machines are x86-64 Debian, whatever this machine is.
APT_OPTS=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)

# Once: the Vulkan loader's .deb in .gl/, and .gl/ and .gpu/ kept out of git (the project's
# .gitignore already does; a checkout without those lines gets them in info/exclude, once).
fetch_loader() {
  mkdir -p .gl .gpu
  local dir exclude
  exclude=$(git rev-parse --git-path info/exclude)
  for dir in .gl .gpu; do
    if ! git check-ignore -q "$dir"; then
      mkdir -p "$(dirname "$exclude")"
      grep -qxF "/$dir/" "$exclude" 2>/dev/null || echo "/$dir/" >>"$exclude"
    fi
  done
  if compgen -G ".gl/libvulkan1_*.deb" >/dev/null; then
    return
  fi
  echo "== once: the Vulkan loader (libvulkan1, amd64) into .gl/"
  mkdir -p /tmp/amd64/partial
  apt-get "${APT_OPTS[@]}" update -qq
  (cd .gl && apt-get "${APT_OPTS[@]}" download libvulkan1)
}

# Release builds of the CLI and the suite's test binaries, stripped into .gpu/ under stable
# names: .gpu/hopfield and .gpu/test-NAME.
build() {
  echo "== release build: the CLI and the test targets of the suite"
  cargo build --release --quiet -p hopfield-cli
  strip -o .gpu/hopfield target/release/hopfield
  local args=() entry name exe
  for entry in $SUITE; do
    args+=(--test "${entry%%:*}")
  done
  # cargo names each test binary (with its hash) only in its JSON messages.
  cargo test --release --no-run --quiet --message-format=json -p hopfield "${args[@]}" |
    jq -r 'select(.reason == "compiler-artifact" and .executable != null
                  and .target.kind == ["test"]) | "\(.target.name) \(.executable)"' |
    while read -r name exe; do
      strip -o ".gpu/test-$name" "$exe"
    done
  for entry in $SUITE; do
    [[ -x .gpu/test-${entry%%:*} ]] || { echo "no test binary for ${entry%%:*}" >&2; exit 1; }
  done
}

# .gpu/run.sh: on the GPU machine, every test binary with HOPFIELD_REQUIRE_GPU=1, then the
# benchmark; a log per step under $OUT, going on past a failure; exit code = failures.
write_runner() {
  cat >.gpu/run.sh <<EOF
#!/usr/bin/env bash
# Written by scripts/gpu-run.sh. From the repository root, on a machine whose Vulkan driver
# and loader are in place (docs/gpu-machine.md): bash .gpu/run.sh
#   OUT                 where the logs and bench.json go [default: .gpu/out]
#   HOPFIELD_GPU_TESTS  NAME:FILTER words, the test binaries to run [default: $SUITE]
#   HOPFIELD_BENCH_ARGS the benchmark's workloads and settings [default: --workloads all]
set -uo pipefail
cd "\$(dirname "\$0")/.." || exit
out=\${OUT:-.gpu/out}
mkdir -p "\$out"
export HOPFIELD_REQUIRE_GPU=1
failures=0
step() {
  local name=\$1
  shift
  echo "== \$name: \$*"
  "\$@" >"\$out/\$name.log" 2>&1
  local rc=\$?
  if ((rc == 0)); then
    echo "   ok"
  else
    failures=\$((failures + 1))
    echo "   FAILED (exit \$rc); the end of \$out/\$name.log:"
    tail -n 15 "\$out/\$name.log"
  fi
}
step info .gpu/hopfield info
for entry in \${HOPFIELD_GPU_TESTS:-$SUITE}; do
  name=\${entry%%:*}
  filter=\${entry#*:}
  step "test-\$name" ".gpu/test-\$name" \${filter:+"\$filter"}
done
# shellcheck disable=SC2086 # the arguments are words to split
step bench .gpu/hopfield bench --device gpu \${HOPFIELD_BENCH_ARGS:---workloads all} --json "\$out/bench.json"
echo "\$failures failed; logs in \$out"
exit "\$failures"
EOF
  chmod +x .gpu/run.sh
}

# The pack and the tracked tree travel together: both must fit.
check_size() {
  local pack tree
  pack=$(du -cb .gl .gpu | tail -n 1 | cut -f 1)
  tree=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | awk '$2 == "total" { n += $1 } END { print n + 0 }')
  awk -v p="$pack" -v t="$tree" -v l="$LIMIT" 'BEGIN {
    printf "== size: .gl + .gpu %.1f MiB, tracked files %.1f MiB, limit %d MiB\n", p / 2^20, t / 2^20, l / 2^20
  }'
  if ((pack + tree > LIMIT)); then
    echo "too big to travel: $((pack + tree)) bytes > $LIMIT" >&2
    exit 1
  fi
}

command -v jq >/dev/null || { echo "needs jq (apt-get install jq)" >&2; exit 1; }
fetch_loader
rm -rf .gpu/test-* .gpu/hopfield .gpu/out
build
write_runner
check_size
cat <<'EOF'
== ready. Carry .gl and .gpu with the working tree; on the GPU machine, from its root, run:
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json; bash .gpu/run.sh
EOF
