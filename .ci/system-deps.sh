#!/usr/bin/env bash
# Installs the Debian packages the project needs (audio/video tools, soundfonts, pictures).
# Idempotent: packages already installed are skipped, so a warm machine pays nothing.
# Runs as root, or through sudo when there is one.
set -euo pipefail

PACKAGES=(
  ffmpeg              # audio and video containers for tests and tools
  ardour              # DAW session tests: ardour7-new_session, ardour7-lua, ardour7-export
  libfluidsynth3      # soundfont synthesizer behind the synthetic corpus (pyfluidsynth)
  libcairo2           # SVG rasterising for corpus pictures (cairosvg)
  timgm6mb-soundfont  # 6 MB GM soundfont: the val split's sounds (and the tests')
  fonts-noto-color-emoji  # 10 MB: the val split's instrument pictures
  stk                 # ~1 MB: stk-demo + rawwaves, the corpus's physical-model sounds (tests skip without)
)

# Callers add packages for optional work (e.g. `make corpus-deps`) through AVPC_EXTRA_PACKAGES.
read -r -a extra <<< "${AVPC_EXTRA_PACKAGES:-}"
PACKAGES+=("${extra[@]}")

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
