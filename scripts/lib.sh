# Shared by scripts/run and scripts/test: package installation and the cargo cache location.
# shellcheck shell=bash

# Debian packages, by what needs them.
BUILD_PACKAGES=(
  build-essential pkg-config cmake nasm libclang-dev libasound2-dev libdbus-1-dev
  libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev libssl-dev procps
  libpipewire-0.3-dev
)
# The headless Wayland desktop of the screen-sharing portal's test (tests/support/wayland-session),
# and what building its patched xdg-desktop-portal-wlr from Debian's source needs.
WAYLAND_TEST_PACKAGES=(sway swaybg foot fonts-dejavu-core pipewire pipewire-bin wireplumber dbus
  xdg-desktop-portal xdg-desktop-portal-wlr util-linux)
XDPW_BUILD_PACKAGES=(dpkg-dev debian-archive-keyring python3 meson ninja-build pkg-config gcc libc6-dev
  libpipewire-0.3-dev libwayland-dev wayland-protocols libinih-dev libgbm-dev libdrm-dev libsystemd-dev scdoc)
TEST_PACKAGES=(xvfb pulseaudio pulseaudio-utils libasound2-plugins janus janus-tools iproute2 ffmpeg python3-venv
  webkit2gtk-driver dbus-x11 fonts-noto-color-emoji gnome-keyring libsecret-tools gstreamer1.0-libav xdotool libglib2.0-bin
  desktop-file-utils xdg-utils coturn openssl xclip nftables iptables
  "${WAYLAND_TEST_PACKAGES[@]}" "${XDPW_BUILD_PACKAGES[@]}")

# Build output lives outside the clone so that fresh clones (CI) reuse it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/conclave/target}"

# The cache gains a whole set of test binaries (some 400 MB each) whenever a dependency or a build
# profile changes, and on a long-lived machine it filled the disk (a CI run died linking, "No
# space left on device"). When less than 20 GB are free, what is stale goes: the incremental
# state, and executables not rebuilt for a day (proc macros, which everything depends on, stay).
# Cargo rebuilds whatever it then misses.
prune_cache() {
  local free_kb
  [ -d "$CARGO_TARGET_DIR" ] || return 0
  free_kb=$(df -Pk "$CARGO_TARGET_DIR" | awk 'NR == 2 { print $4 }')
  [ "${free_kb:-0}" -ge $((20 * 1024 * 1024)) ] && return 0
  echo "less than 20 GB free: pruning stale build output in $CARGO_TARGET_DIR" >&2
  # Best effort: a file that goes while find looks must not stop the run.
  find "$CARGO_TARGET_DIR" -mindepth 2 -maxdepth 3 -type d -name incremental -prune \
    -exec rm -rf {} + || true
  find "$CARGO_TARGET_DIR" -path '*/deps/*' -type f -perm -u+x ! -name '*.so' -mmin +1440 \
    -delete || true
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs whichever of the given Debian packages are missing.
need_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null; then
    echo "Missing packages: ${missing[*]}. This script installs them on Debian/Ubuntu only;" >&2
    echo "see README.md for other systems." >&2
    exit 1
  fi
  echo "Installing: ${missing[*]}" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

need_rust() {
  if ! command -v cargo >/dev/null; then
    echo "Conclave needs a Rust toolchain (1.91 or newer): https://rustup.rs" >&2
    exit 1
  fi
}

# Installs a cargo tool at a pinned version unless that version is already there (asks cargo,
# since not every tool has a --version flag).
need_cargo_tool() {
  local crate=$1 version=$2
  if ! cargo install --list | grep -qx "$crate v$version:"; then
    cargo install --locked --quiet "$crate" --version "$version"
  fi
}

# Galène 0.7.2, the second real SFU the tests meet through: a `galene` on the PATH, else one built
# once into ~/.cache/conclave from Galène's sources (../shared/third_party/galene beside the clone,
# or CONCLAVE_GALENE_SRC; Debian's Go and pion packages, offline), else `go install` (internet).
# A CONCLAVE_GALENE already set to a binary is kept. Exports CONCLAVE_GALENE for the tests.
GALENE_VERSION=0.7.2
need_galene() {
  if [ -n "${CONCLAVE_GALENE:-}" ] && [ -x "$CONCLAVE_GALENE" ]; then
    export CONCLAVE_GALENE
    return 0
  fi
  if command -v galene >/dev/null; then
    export CONCLAVE_GALENE
    CONCLAVE_GALENE=$(command -v galene)
    return 0
  fi
  local cached="$HOME/.cache/conclave/galene-$GALENE_VERSION" src="" d
  export CONCLAVE_GALENE="$cached"
  [ -x "$cached" ] && return 0
  mkdir -p "$(dirname "$cached")"
  for d in "${CONCLAVE_GALENE_SRC:-}" "$(pwd)/../shared/third_party/galene" /work/shared/third_party/galene; do
    if [ -n "$d" ] && [ -x "$d/build.sh" ]; then src=$d; break; fi
  done
  need_packages golang-go golang-github-pion-webrtc.v3-dev golang-github-gorilla-websocket-dev \
    golang-github-golang-jwt-jwt-dev golang-golang-x-term-dev
  if [ -n "$src" ]; then
    "$src/build.sh" "$cached.part"
  else
    echo "Galène's sources are not beside the clone: fetching galene-$GALENE_VERSION with go install" >&2
    local gobin; gobin=$(mktemp -d)
    GOBIN="$gobin" CGO_ENABLED=0 go install "github.com/jech/galene@galene-$GALENE_VERSION"
    mv "$gobin/galene" "$cached.part"; rm -rf "$gobin"
  fi
  mv "$cached.part" "$cached"
}

# Cross-compiling for Windows (x86_64-pc-windows-gnu): Debian's mingw-w64, the target's standard
# library from rustup, and NSIS for the installer.
need_windows_target() {
  need_packages gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 binutils-mingw-w64-x86-64 nsis
  if ! rustup target list --installed 2>/dev/null | grep -qx x86_64-pc-windows-gnu; then
    if ! command -v rustup >/dev/null; then
      echo "The Windows build needs rustup (to add the x86_64-pc-windows-gnu standard library)." >&2
      exit 1
    fi
    rustup target add x86_64-pc-windows-gnu
  fi
}
