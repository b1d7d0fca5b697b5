#!/usr/bin/env bash
# The real kube-apiserver on loopback, for the control-plane test tier (e2e/apiserver/: a small Go
# program linking k8s.io/kubernetes's kube-apiserver and an embedded etcd; see its README.md).
#
#   scripts/apiserver.sh build              # builds once, prints the binary's path
#   scripts/apiserver.sh start DIR [-- FLAGS]  # starts it in the background with its data in DIR,
#                                            # waits for its READY line, prints that line
#   scripts/apiserver.sh stop DIR            # SIGTERM, waits for it to exit
#
# The binary is cached outside the work tree, under
#   ${TOLLGATE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tollgate}/apiserver-<key>/kube-apiserver-local
# where <key> is a sha256 of go.mod, go.sum, the Go sources, `go version` and the link flags: the first build
# (cold: a few minutes on 2 cores) prints its time; later runs reuse the binary at once.
# Needs Go (go.mod's version or newer) and the Go module proxy for the first build.
#
# `start` writes into DIR: kubeconfig (admin, system:masters), pki/, etcd/, apiserver.pid,
# apiserver.out (the READY line) and apiserver.log (kube-apiserver's and etcd's logs).
# FLAGS after `--` go to kube-apiserver as they are (e.g. -- --v=2). The port is a free one unless
# TOLLGATE_APISERVER_PORT is set; the wait is bounded by TOLLGATE_APISERVER_TIMEOUT (s, default 180).

_apiserver_root() {
    cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd
}

# Prints the binary's path, building it first when the cache has none for this source.
apiserver_build() {
    local root src version minor ldflags pkg key cache bin tmp start size
    root="$(_apiserver_root)" || return 1
    src="$root/e2e/apiserver"
    command -v go >/dev/null 2>&1 || {
        echo "apiserver.sh: 'go' is required to build $src (see its go.mod for the version)" >&2
        return 1
    }
    # The version kube-apiserver reports (/version, kubectl version): k8s.io/kubernetes's release
    # from go.mod, stamped as Kubernetes's own build does (hack/lib/version.sh); without it the
    # server says v0.0.0-master, which kubectl cannot parse.
    version="$(cd "$src" && go list -m -f '{{.Version}}' k8s.io/kubernetes)" || return 1
    minor="${version#v1.}"
    minor="${minor%%.*}"
    ldflags="-s -w"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
        ldflags+=" -X $pkg.gitTreeState=clean"
    done
    key="$(cd "$src" && { cat go.mod go.sum ./*.go; go version; echo "$ldflags"; } |
        sha256sum | cut -c1-16)" || return 1
    cache="${TOLLGATE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tollgate}/apiserver-$key"
    bin="$cache/kube-apiserver-local"
    if [ -x "$bin" ]; then
        echo "$bin"
        return 0
    fi
    mkdir -p "$cache" || return 1
    tmp="$cache/.kube-apiserver-local.$$"
    echo "apiserver.sh: building $src ($(go version | awk '{print $3}'); minutes when Go's build cache is cold)" >&2
    start=$SECONDS
    # -mod=readonly: go.sum is committed; a build never rewrites it.
    if ! (cd "$src" && go build -mod=readonly -trimpath -ldflags="$ldflags" -o "$tmp" .) >&2; then
        rm -f "$tmp"
        echo "apiserver.sh: build failed" >&2
        return 1
    fi
    # atomic: a concurrent run never sees a half-written binary
    mv -f "$tmp" "$bin" || return 1
    size="$(du -m "$bin" | cut -f1)"
    echo "apiserver.sh: built in $((SECONDS - start))s, ${size} MiB: $bin" >&2
    echo "$bin"
}

# apiserver_start DIR [-- FLAGS]: starts the server in the background, waits for READY.
apiserver_start() {
    local dir="${1:?usage: apiserver.sh start DIR [-- kube-apiserver flags]}"
    shift
    [ "${1:-}" = "--" ] && shift
    local bin pid timeout deadline line
    bin="$(apiserver_build)" || return 1
    mkdir -p "$dir" || return 1
    dir="$(cd "$dir" && pwd)" || return 1
    if [ -f "$dir/apiserver.pid" ] && kill -0 "$(cat "$dir/apiserver.pid")" 2>/dev/null; then
        echo "apiserver.sh: already running in $dir (pid $(cat "$dir/apiserver.pid"))" >&2
        return 1
    fi
    : >"$dir/apiserver.out"
    "$bin" --data-dir "$dir" --port "${TOLLGATE_APISERVER_PORT:-0}" -- "$@" \
        </dev/null >"$dir/apiserver.out" 2>"$dir/apiserver.log" &
    pid=$!
    echo "$pid" >"$dir/apiserver.pid"
    timeout="${TOLLGATE_APISERVER_TIMEOUT:-180}"
    deadline=$((SECONDS + timeout))
    # Poll the READY line (the program prints it once /readyz is ok); bounded, and stops early
    # when the process is gone.
    while :; do
        line="$(grep -m1 '^READY ' "$dir/apiserver.out" 2>/dev/null || true)"
        if [ -n "$line" ]; then
            echo "$line"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "apiserver.sh: the server exited before it was ready; last lines of $dir/apiserver.log:" >&2
            tail -n 30 "$dir/apiserver.log" >&2
            rm -f "$dir/apiserver.pid"
            return 1
        fi
        if [ $SECONDS -ge $deadline ]; then
            echo "apiserver.sh: not ready after ${timeout}s; stopping it. Last lines of $dir/apiserver.log:" >&2
            tail -n 30 "$dir/apiserver.log" >&2
            apiserver_stop "$dir"
            return 1
        fi
        sleep 0.2
    done
}

# apiserver_stop DIR: SIGTERM to the server started in DIR; waits (bounded) for it to exit.
apiserver_stop() {
    local dir="${1:?usage: apiserver.sh stop DIR}" pid deadline
    [ -f "$dir/apiserver.pid" ] || return 0
    pid="$(cat "$dir/apiserver.pid")"
    rm -f "$dir/apiserver.pid"
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    deadline=$((SECONDS + ${TOLLGATE_APISERVER_STOP_TIMEOUT:-60}))
    while kill -0 "$pid" 2>/dev/null; do
        if [ $SECONDS -ge $deadline ]; then
            echo "apiserver.sh: pid $pid still running; SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null
            return 1
        fi
        sleep 0.1
    done
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -uo pipefail
    cmd="${1:-}"
    shift || true
    case "$cmd" in
        build) apiserver_build ;;
        start) apiserver_start "$@" ;;
        stop) apiserver_stop "$@" ;;
        *)
            echo "usage: scripts/apiserver.sh build | start DIR [-- kube-apiserver flags] | stop DIR" >&2
            exit 2
            ;;
    esac
fi
