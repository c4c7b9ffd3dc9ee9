"""The native engines of language ID and perplexity (docs/recipe/commoncrawl.md §3, §4); the
rest of the build is in pyproject.toml.

Both must give the same bits as the library calls they replace, so the flags leave the
arithmetic as written: no -ffast-math, no host-specific instructions, no fused multiply-add
contraction. KenLM's scorer links the static KenLM libraries `make setup` builds (KENLM_SRC,
KENLM_LIB); where they are missing it is left out and the pipeline scores through the `kenlm`
module instead (same results, slower).
"""

import os
import sys
from pathlib import Path

from setuptools import Extension, setup

HERE = Path(__file__).resolve().parent
KENLM_SRC = Path(os.environ.get("KENLM_SRC", HERE / "build/kenlm/kenlm-0.3.0"))
KENLM_LIB = Path(os.environ.get("KENLM_LIB", HERE / "build/kenlm/build/lib"))
FLAGS = ["-O3", "-fwrapv", "-ffp-contract=off"]

extensions = [
    Extension("filters._fastlid", ["native/fastlid.c"], extra_compile_args=FLAGS, libraries=["m"])
]
kenlm_libs = [KENLM_LIB / "libkenlm.a", KENLM_LIB / "libkenlm_util.a"]
if all(lib.is_file() for lib in kenlm_libs) and (KENLM_SRC / "lm/model.hh").is_file():
    extensions.append(
        Extension(
            "filters._kenlm_lines",
            ["native/kenlm_lines.cc"],
            include_dirs=[str(KENLM_SRC), "native"],
            depends=["native/ascii_unigram.h"],
            define_macros=[("KENLM_MAX_ORDER", "6")],
            extra_compile_args=["-std=c++17", *FLAGS],
            extra_objects=[str(lib) for lib in kenlm_libs],
            libraries=["z", "bz2", "lzma"],
            language="c++",
        )
    )
else:
    print(
        f"setup.py: no KenLM build under {KENLM_LIB}: filters._kenlm_lines not built "
        "(`make setup` builds KenLM first)",
        file=sys.stderr,
    )

setup(ext_modules=extensions)
