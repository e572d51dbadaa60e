# gateway.sh: sourced by bench/cpu and bench/instructions. bench_gateway_start BIN DIR [TOOL...]
# starts BIN/codex-gateway (under TOOL, if given) on a free loopback port with BIN/fake-codex
# as its worker and its state in DIR; sets gw_port and gw_pid. Extra environment for the
# gateway comes from the caller's exported variables.
bench_gateway_start() {
    local bin=$1 dir=$2
    shift 2
    gw_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    PORT=$gw_port CODEX_BIN="$bin/fake-codex" PROXY_LOG_LEVEL=warn HOME="$dir" \
        PROXY_STATE_DIR="$dir" FAKE_CODEX_THREAD_BYTES=0 "$@" "$bin/codex-gateway" \
        2>"$dir/stderr" >/dev/null &
    gw_pid=$!
}
