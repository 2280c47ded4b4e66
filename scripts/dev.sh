#!/usr/bin/env bash
# Installs what is needed, builds, writes a development setup into .dev/ (once) and starts
# Signpost on it in the foreground. Ctrl-C stops it.
#   SIGNPOST_DEV_DIR=/path scripts/dev.sh    to use another directory
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build -G Ninja >/dev/null
cmake --build build --target signpost -j "$(nproc)"
dev_dir=${SIGNPOST_DEV_DIR:-.dev}
if [ ! -f "$dev_dir/signpost.toml" ]; then
  ./build/bin/signpost init --dev "$dev_dir"
fi
echo "dev user password: $(cat "$dev_dir/dev-password")"
exec ./build/bin/signpost serve --config "$dev_dir/signpost.toml"
