#!/usr/bin/env bash
# Builds the web page (web/): the engine crate for wasm32, bound to JavaScript by wasm-bindgen
# into web/pkg/. Then serve web/ with any static server, e.g.
#   python3 -m http.server --directory web 8000    # and open http://localhost:8000
# WebGPU needs a secure context: localhost is one; elsewhere serve over https.
#
# PROFILE=release (the default) for a page to publish; scripts/test.sh builds with the test
# profile, whose dependencies the wasm tests have already compiled.
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${PROFILE:-release}"

rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
# The CLI must be the exact version of the wasm-bindgen crate the build links.
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print }' Cargo.lock)
if [[ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $want" ]]; then
  cargo install --quiet wasm-bindgen-cli --version "$want"
fi

cargo build --quiet -p hopfield-web --target wasm32-unknown-unknown --profile "$profile"
dir=$profile; [[ $profile == dev ]] && dir=debug; [[ $profile == test ]] && dir=debug
wasm-bindgen --target web --no-typescript --out-dir web/pkg \
  "target/wasm32-unknown-unknown/$dir/hopfield_web.wasm"
echo "built web/pkg ($(du -sh web/pkg | cut -f1)); serve web/ and open index.html"
