#!/usr/bin/env bash
# Installs the Debian packages sluice builds and tests with. Idempotent: packages already
# present are skipped, so running it twice costs one dpkg query.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libpcre2-dev nlohmann-json3-dev libcli11-dev libfmt-dev liburing-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi

sudo_cmd=()
[ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
