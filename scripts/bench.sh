#!/usr/bin/env bash
# The benchmark suite (the `benches/` crate): every figure beside a baseline measured in the
# same run, as a ratio.
# Builds the example plugins, generates the Auth0 logs, then runs the groups asked for:
#
#   scripts/bench.sh                 every group, in order
#   scripts/bench.sh pipeline        3 plugins vs the same rules natively, one thread
#   scripts/bench.sh scaling         the whole host, 1 vs 2 workers
#   scripts/bench.sh delivery        PutEvents to an in-process endpoint vs a counting sink
#   scripts/bench.sh curve           1/3/10/30 plugins and 1/10/100 KB logs, one thread
#   scripts/bench.sh http            HTTP ingest vs in-process ingest
#   scripts/bench.sh reload          hot swap latency, cold start with and without the cache
#   scripts/bench.sh rules           1/100/1000 EventBridge-pattern rules vs 1, and vs the hand-written router
#   scripts/bench.sh rss             resident memory with 10 plugins (its own process)
#
# N=... sets how many logs (default 20000). PROFILE=release measures an optimized build
# (`cargo --release`: every crate at opt-level 3) instead of the dev profile the tests and
# the demo use; it is a build of its own (about 15 minutes on 2 cores the first time).
# Results go to stdout; BENCHMARKS.md has the figures of the last full run and the
# machine it ran on.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

out=target/bench
groups=("$@")
if [[ ${#groups[@]} -eq 0 ]]; then
    groups=(pipeline scaling delivery curve http reload rules rss)
fi
for group in "${groups[@]}"; do
    case $group in
        pipeline | scaling | delivery | curve | http | reload | rules | rss) ;;
        *)
            echo "error: unknown group '$group'; groups: pipeline scaling delivery curve http reload rules rss" >&2
            exit 2
            ;;
    esac
done

scripts/build-plugins.sh "$out" >&2
profile=${PROFILE:-dev}
case $profile in
    dev) bin=target/debug profile_note="dev (dependencies, the host library and the benchmarks at opt-level 2)" ;;
    release) bin=target/release profile_note="release (every crate at opt-level 3)" ;;
    *)
        echo "error: PROFILE must be dev or release, not '$profile'" >&2
        exit 2
        ;;
esac
cargo build --quiet --profile "$profile" -p logbridge --bin logbridge -p logbridge-benches --bins
"$bin/logbridge" sample --count "${N:-20000}" --seed 7 > "$out/logs.ndjson"

# CPU time so far, all cores (jiffies): busy (user to softirq) and steal — time a
# virtual machine's cores were ready but the host ran someone else.
cpu_times() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $9 }' /proc/stat; }
echo "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); profile: $profile_note"
for group in "${groups[@]}"; do
    echo
    read -r busy steal < <(cpu_times)
    case $group in
        http) "$bin/bench_http" "$out/plugins" "$out/logs.ndjson" ;;
        reload) "$bin/bench_reload" "$out/plugins" ;;
        *) "$bin/bench" "$out/plugins" "$out/logs.ndjson" "$group" ;;
    esac
    # A shared machine's cores are sometimes taken away: rates then fall, and a group's
    # figures are to be read with this beside them.
    read -r busy2 steal2 < <(cpu_times)
    awk -v b=$((busy2 - busy)) -v s=$((steal2 - steal)) -v g="$group" 'BEGIN {
        if (b + s > 0) printf "  (%s: the virtual machine'"'"'s cores were taken away for %.1f%% of the time they were wanted: steal)\n", g, 100 * s / (b + s) }'
done
