# faceverify — `make demo` builds and serves the demo, `make test` runs every test.
# Both do all set-up first (tools/setup.sh: registry installs only, idempotent).

SHELL := /bin/bash
PORT ?= 8080
PYTHON := .venv/bin/python
PACKAGE := packages/faceverify
WASM := $(PACKAGE)/pkg/faceverify_bg.wasm
WASM_RELAXED := $(PACKAGE)/pkg/faceverify_relaxed_bg.wasm
WASM_THREADS := $(PACKAGE)/pkg-threads/faceverify_bg.wasm
CLI := target/release/faceverify
MODELS_STAMP := models/build/onnx/.built
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: setup models models-update wasm cli package fixtures demo test test-python test-rust test-web bench bench-db eval reference calibrate quality-curve openface-check fuzz clean

setup:
	tools/setup.sh

$(MODELS_STAMP): models/manifest.json models/packages.json $(wildcard models/*.py) | setup
	$(PYTHON) models/fetch.py
	$(PYTHON) models/build.py
	node tools/brotli.mjs models/build/onnx/*.onnx models/build/onnx/*.bin
	touch $@

# The NNEF files the browser loads (the manifest's `nnef`), written from the ONNX files by the
# native CLI: tract reads them without parsing, typing or decluttering (docs/performance.md).
NNEF_STAMP := models/build/onnx/.nnef-built
$(NNEF_STAMP): $(MODELS_STAMP) $(CLI)
	$(PYTHON) models/build.py --nnef $(CLI)
	node tools/brotli.mjs models/build/onnx/*.nnef.tar
	touch $@

models: $(MODELS_STAMP) $(NNEF_STAMP)

# After a deliberate converter or weight change: record the new hashes (the ONNX files', then,
# with a CLI built on those, the NNEF files').
models-update: setup
	$(PYTHON) models/fetch.py
	$(PYTHON) models/build.py --update
	+$(MAKE) cli
	$(PYTHON) models/build.py --nnef $(CLI) --update

# patches/: crates.io crates carried with changes (patches/README.md), built from here.
RUST_SOURCES := Cargo.toml Cargo.lock models/manifest.json $(shell find src -name '*.rs') $(shell find patches -name '*.rs' -o -name Cargo.toml -o -name '*.nnef')

# Three wasm builds of the same core into the npm package, picked by the inference worker:
# - pkg/faceverify_bg.wasm: simd128, one thread, for every browser (simd128 is in all since 2021
#   and doubles tract's speed);
# - pkg/faceverify_relaxed_bg.wasm: simd128 + relaxed SIMD (fused multiply-add in src/gemm.rs's
#   6×8 GEMM tile: embed 1.38–1.46× faster in Chromium, bench/results.md), one thread, for
#   browsers that validate relaxed SIMD (Chrome/Edge ≥ 114, Firefox ≥ 146; not Safari). Its
#   wasm-bindgen glue is byte for byte pkg/'s, so only the wasm is kept;
# - pkg-threads/: relaxed SIMD + atomics, a pool of Web Workers (src/par.rs's independent work,
#   the embedder's GEMMs), for cross-origin isolated pages in those browsers.
# -pre-RA-sched=source: LLVM keeps the kernels' instruction order, which holds 15 vectors live
# (src/gemm.rs); its default scheduler, seeing no register limit in wasm, hoists loads until V8
# spills. wasm-pack runs with --mode no-install so that it never downloads tools. No wasm-opt: it
# saved 6 % over the wire and no time per frame, for 15 minutes of building binaryen and running
# it on a new machine (docs/performance.md). The server sends the wasm pre-compressed
# (tools/brotli.mjs). strip: no name section (1.6 MB in the one-thread build, 12.8 MB in the
# threaded one, whose std is built here), so panics read wasm-function[n] rather than names.
WASM_PACK := CARGO_PROFILE_RELEASE_LTO=true CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 CARGO_PROFILE_RELEASE_STRIP=true \
	wasm-pack build --mode no-install --target web --release --out-name faceverify --no-pack
SCHED := -C llvm-args=-pre-RA-sched=source
# Dependencies optimised for size in the wasm builds, except the crates whose loops the time
# goes to (tract-linalg's GEMM driver and packing, image's resize, zune-jpeg, and sha2, which
# hashes every model file as it loads): 12.30 -> 9.21 MB raw, 1.92 -> 1.55 MB brotli, no
# slower within this host's noise (docs/performance.md: "z", or tract-core at 3, measured
# worse). Our own crate, with the GEMM tile, stays at 3.
WASM_OPT_LEVELS := --config 'profile.release.package."*".opt-level="s"' \
	$(foreach crate,tract-linalg image zune-jpeg sha2,--config profile.release.package.$(crate).opt-level=3)
# Each wasm build has a target dir of its own: cargo locks a target dir for the whole of a
# build, which would hold the wasm builds and the native one to one at a time.
$(WASM): $(RUST_SOURCES) | setup
	+CARGO_TARGET_DIR=target/wasm RUSTFLAGS="-C target-feature=+simd128 $(SCHED)" $(WASM_PACK) --out-dir $(PACKAGE)/pkg -- $(WASM_OPT_LEVELS) --no-default-features
	node tools/brotli.mjs $(WASM)
	node tools/default-models.mjs

# Built outside pkg/ (wasm-pack empties its out-dir), then its wasm copied beside pkg/'s glue.
RELAXED_OUT := target/wasm-relaxed/pkg/faceverify_bg.wasm
$(RELAXED_OUT): $(RUST_SOURCES) | setup
	+CARGO_TARGET_DIR=target/wasm-relaxed RUSTFLAGS="-C target-feature=+simd128,+relaxed-simd $(SCHED)" \
		$(WASM_PACK) --out-dir $(CURDIR)/target/wasm-relaxed/pkg -- $(WASM_OPT_LEVELS) --no-default-features
# One glue loads either wasm only while the two builds export the same: checked here.
$(WASM_RELAXED): $(RELAXED_OUT) $(WASM)
	cmp target/wasm-relaxed/pkg/faceverify.js $(PACKAGE)/pkg/faceverify.js
	cp $(RELAXED_OUT) $@
	node tools/brotli.mjs $@

# Shared memory needs atomics in std too: -Z build-std rebuilds it (rust-src, from the set-up),
# which stable accepts under RUSTC_BOOTSTRAP; build.rs adds the shared-memory link arguments.
# The memory may grow to 4 GiB as the one-thread build's does (a shared memory's maximum is fixed
# at link time; rustc's default is 1 GiB).
$(WASM_THREADS): $(RUST_SOURCES) | setup
	+RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=target/wasm-threads \
	RUSTFLAGS="-C target-feature=+simd128,+relaxed-simd,+atomics,+bulk-memory,+mutable-globals -C link-arg=--max-memory=4294967296 $(SCHED)" \
		$(WASM_PACK) --out-dir $(PACKAGE)/pkg-threads -- $(WASM_OPT_LEVELS) --no-default-features --features threads \
		-Z build-std=panic_abort,std
	node tools/brotli.mjs $(WASM_THREADS)

# The threaded build first: it is the longest (std rebuilt too), and make starts prerequisites
# in order, so it overlaps everything else instead of coming last.
wasm: $(WASM_THREADS) $(WASM) $(WASM_RELAXED)

# The npm package (packages/faceverify): its models and licences added, packed into
# target/package/faceverify-<version>.tgz (not published from here).
package: models wasm
	node tools/package.mjs

# Built by `cargo test --no-run`, with the test binaries: cargo builds the CLI for the
# integration tests anyway, with the dev-dependencies' features, and a plain `cargo build`
# (other features) would compile tract natively a second time.
$(CLI): $(RUST_SOURCES)
	+cargo test --release --no-run
	touch $@

cli: $(CLI)

# Every image format and variant the decoder must handle, made from one shared photo, and
# a video of another for Chromium's fake camera, and two for the liveness tests (that person
# performing head movements, and a print of her photo moved about).
# Labelled pairs of the shared photos, clean and degraded (tests/pairs.py), the group-photo
# set (tests/groups.py) and photos without faces (tests/negatives.py).
FACES := ../shared/faces
FIXTURES := target/fixtures/.made
$(FIXTURES): tests/fixtures.py tests/camera_y4m.py tests/liveness_y4m.py tests/pairs.py tests/groups.py tests/negatives.py tests/data/*.csv | setup
	$(PYTHON) tests/fixtures.py $(FACES)/deepface/img2.jpg target/fixtures $(FACES)/deepface/img3.jpg
	$(PYTHON) tests/camera_y4m.py $(FACES)/deepface/img5.jpg target/fixtures-web/camera.y4m
	$(PYTHON) tests/liveness_y4m.py $(FACES) target/fixtures-web/liveness
	$(PYTHON) tests/pairs.py $(FACES) target/pairs
	$(PYTHON) tests/groups.py $(FACES) target/groups
	$(PYTHON) tests/negatives.py target/negatives
	touch $@

fixtures: $(FIXTURES)

PAIRS := $(FACES)/deepface/pairs-dev.csv target/pairs/clean.csv target/pairs/hard.csv

# dlib's own pipeline beside ours on every pair list (tools/reference.py): PyPI
# face_recognition 1.3.0 on dlib-bin, face_recognition_models from the archive models/ fetched.
REFERENCE := .venv/reference.installed
$(REFERENCE): | setup models
	.venv/bin/pip install -q dlib-bin==20.0.1.post1
	.venv/bin/pip install -q --no-deps face_recognition==1.3.0 models/build/cache/face_recognition_models-0.3.0.tar.gz
	touch $@

reference: $(REFERENCE) cli fixtures
	$(PYTHON) tools/reference.py compare --cli $(CLI) $(addprefix --pairs ,$(PAIRS))

# Each offered recognition model's operating point and confidence calibration, chosen on every
# labelled pair (written into models/manifest.json; rebuild afterwards).
calibrate: cli fixtures
	$(CLI) calibrate --pairs target/pairs/clean.csv --pairs target/pairs/hard.csv

# Two jobs, as `make test` builds: the native CLI that writes the NNEF files overlaps the wasm
# builds' long single-threaded links.
demo:
	+$(MAKE) -j2 wasm models
	@echo "Open http://localhost:$(PORT)/ (Ctrl-C stops the server)"
	node tools/serve.mjs $(PORT)

# Builds first, two jobs at a time: cargo shares make's jobserver (the `+` lines), so two
# jobs run in all, and the wasm builds' long single-threaded LTO overlaps other compiling.
# Then the tests, one suite after another (the browser tests time real things).
test:
	+$(MAKE) -j2 wasm cli models fixtures package
	+$(MAKE) test-python test-rust test-web

# The OpenFace converter on random weights; leaves ONNX files in target/openface for test-rust.
test-python: setup
	$(PYTHON) -m unittest -v tests/test_openface.py

test-rust: models fixtures test-python
	+cargo test --release

# A test that hangs fails after 10 minutes instead of holding CI to its limit.
test-web: models wasm cli fixtures package
	FACEVERIFY_BIN=$(CLI) node --test --test-concurrency=1 --test-timeout=600000 tests/web/

# Figures, not pass/fail: writes bench/results.json and bench/results.md.
bench: models wasm
	node bench/run.mjs

# The PostgreSQL store at scale (benches/db.rs): enrolment faces/s, then HNSW build, recall
# and latency at 100 k and 1 M synthetic faces beside the exact searches; writes bench/db.json.
# About 20 minutes on 2 cores; DB_SIZES picks other sizes.
DB_SIZES ?= 100000 1000000
bench-db: models cli
	+FACEVERIFY_CLI=$(CLI) FACEVERIFY_DB_JSON=bench/db.json cargo bench --bench db -- $(DB_SIZES)

# The accuracy tables of docs/accuracy.md: every recognition model × alignment × metric on
# each pair list.
eval: models cli fixtures
	$(PYTHON) tools/eval_table.py $(CLI) $(PAIRS)

# docs/quality.md: errors on the degraded pairs as the lowest-quality 0–30 % are set aside.
quality-curve: cli fixtures
	$(PYTHON) tools/quality_curve.py $(CLI) target/pairs/hard.csv docs/quality-discard.svg

# After converting your own nn4.small2.v1.t7 (README, "OpenFace"): squared L2 distances on
# OpenFace's example photos next to the ones OpenFace publishes for them.
OPENFACE_EXAMPLES := ../shared/faces/openface-examples
openface-check: cli
	@for pair in "lennon-1 lennon-2 0.763" "clapton-1 clapton-2 0.318" "lennon-1 clapton-1 1.132"; do \
		set -- $$pair; \
		d=$$($(CLI) verify $(OPENFACE_EXAMPLES)/$$1.jpg $(OPENFACE_EXAMPLES)/$$2.jpg --model openface-nn4.small2 --json \
			| $(PYTHON) -c 'import json, sys; print("%.3f" % json.load(sys.stdin)["distance"] ** 2)'); \
		echo "$$1 – $$2: squared L2 $$d (OpenFace publishes $$3)"; \
	done

# Coverage-guided fuzzing (libFuzzer, AddressSanitizer) of decode alone, decode → pipeline
# and gallery import, FUZZ_SECONDS per target. Seeds in fuzz/corpus/ (decode's is a link to
# decode_pipeline's); new inputs go to target/fuzz-corpus/.
# cargo-fuzz needs nightly flags: RUSTC_BOOTSTRAP lets the stable toolchain accept them.
FUZZ_SECONDS ?= 60
fuzz: models
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --version 0.13.2 --locked
	cd fuzz && for target in decode decode_pipeline gallery_import; do \
		mkdir -p ../target/fuzz-corpus/$$target && \
		RUSTC_BOOTSTRAP=1 cargo fuzz run --release $$target ../target/fuzz-corpus/$$target corpus/$$target \
			-- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 || exit 1; \
	done

clean:
	rm -rf target $(PACKAGE)/pkg $(PACKAGE)/pkg-threads $(PACKAGE)/models $(PACKAGE)/LICENSE models/build
