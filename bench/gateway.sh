# gateway.sh: sourced by bench/cpu and bench/instructions. bench_gateway_start BIN DIR [TOOL...]
# starts BIN/codex-gateway (under TOOL, if given) on a free loopback port with BIN/$BENCH_FAKE
# as its worker (fastfake, the benchmarks' lean app-server, unless set: soak needs fake-codex's
# tool scenarios) and its state in DIR; sets gw_port and gw_pid. Extra environment for the
# gateway comes from the caller's exported variables. Also: bench_wait_ready, bench_wrk_cpu,
# median and ratio.
bench_gateway_start() {
    local bin=$1 dir=$2
    shift 2
    gw_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    PORT=$gw_port CODEX_BIN="$bin/${BENCH_FAKE:-fastfake}" PROXY_LOG_LEVEL=warn HOME="$dir" \
        PROXY_STATE_DIR="$dir" FAKE_CODEX_THREAD_BYTES=0 "$@" "$bin/codex-gateway" \
        2>"$dir/stderr" >/dev/null &
    gw_pid=$!
}

# bench_wait_ready PORT: waits up to 10 s for /readyz; fails otherwise.
bench_wait_ready() {
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    curl -sf "http://127.0.0.1:$1/readyz" >/dev/null
}

# bench_wrk_cpu PID SECONDS CONNS SCRIPT URL STREAM: one wrk run (bench/SCRIPT) against URL;
# prints PID's CPU us per request (all, user, system), the req/s, and wrk's p50 and p99 in us.
bench_wrk_cpu() {
    local pid=$1 d=$2 c=$3 script=$4 url=$5 stream=$6 u0 s0 u1 s1 line
    local here_=${here:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
    read -r u0 s0 < <(awk '{ print $14, $15 }' "/proc/$pid/stat")
    line=$(BENCH_STREAM=$stream wrk -t"$((c < 2 ? 1 : 2))" -c"$c" -d"${d}s" -s "$here_/bench/$script" "$url" | grep '^WRK')
    read -r u1 s1 < <(awk '{ print $14, $15 }' "/proc/$pid/stat")
    awk -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v hz="$(getconf CLK_TCK)" -v line="$line" 'BEGIN {
        split(line, f, /[ =]/); n = f[3]; rps = f[5]
        if (n == 0 || f[15] != 0 || f[17] != 0) { print "bench: " line > "/dev/stderr"; exit 1 }
        k = 1e6 / hz / n
        printf "%.1f %.1f %.1f %s %s %s\n", (u + s) * k, u * k, s * k, rps, f[7], f[11] }'
}

# median VALUES...: the median (the lower middle one for an even count).
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# ratio A B: the median over rounds of A's value over B's (two lists of the same length).
ratio() {
    # shellcheck disable=SC2046
    median $(awk -v a="$1" -v b="$2" 'BEGIN {
        n = split(a, x, " "); split(b, y, " ")
        for (i = 1; i <= n; i++) printf "%.4f\n", x[i] / y[i] }')
}
