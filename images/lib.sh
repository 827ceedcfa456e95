# Shared by the image scripts (sourced, not run). The caller defines log, die
# and apt_update.

# need_tools CMD:PACKAGE...: installs with apt the Debian packages of the
# commands that are missing (updating the package lists only if needed).
need_tools() {
    local missing=() pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    log "installing host tools: ${missing[*]}"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; then
        apt_update
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
            die "cannot install ${missing[*]}"
    fi
}
