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
  openclipart-svg     # 25 MB download: drawings of both splits (the demo's and the val set's too)
  stk                 # ~1 MB: stk-demo + rawwaves, the corpus's physical-model sounds (tests skip without)
  faketime            # runs stk-demo on a fixed clock: STK seeds its noise from the time of day
)

# The versions the published figures (README, model cards, docs/benchmarks.md) and the test
# fixtures were made with: they render the val split's sounds and pictures, so another version
# changes the demo's scene and its scores. Installed as named when the archive still has them;
# otherwise the archive's version is installed with a warning, and tests/test_system_sources.py
# says which file differs.
TESTED_VERSIONS=(
  libfluidsynth3=2.3.1-2
  timgm6mb-soundfont=1.3-5
  fonts-noto-color-emoji=2.042-0+deb12u1
  openclipart-svg=1:0.18+dfsg-19
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

# A missing package with a tested version is asked for at that version when the archive has it.
requests=()
for pkg in "${missing[@]}"; do
  request="$pkg"
  for pinned in "${TESTED_VERSIONS[@]}"; do
    [ "${pinned%%=*}" = "$pkg" ] || continue
    version="${pinned#*=}"
    if apt-cache madison "$pkg" | awk -F'|' '{gsub(/ /, "", $2); print $2}' | grep -qxF "$version"; then
      request="$pinned"
    else
      echo "warning: $pkg $version (the tested version) is not in the archive; installing its own" >&2
    fi
  done
  requests+=("$request")
done
$SUDO apt-get install -y -qq --no-install-recommends "${requests[@]}" >/dev/null
