# Sourced by scripts/test.sh and scripts/demo.sh: ensure_packages NAME PKG... installs the Debian
# packages PKG... that are missing (as root, with apt-get), or exits with a message naming them.
ensure_packages() {
    local who="$1"
    shift
    command -v dpkg >/dev/null || return 0
    local missing=() p
    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    if ((EUID != 0)); then
        echo "${who}: missing packages: ${missing[*]} (run as root to install them)" >&2
        exit 1
    fi
    echo "${who}: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
}
