"""The Makefile's variables do what their names say (each case once was a trap)."""

from __future__ import annotations

import os
import shutil
import subprocess

from conftest import ROOT


def _dry(*args: str, env: dict | None = None, cwd=ROOT) -> list[str]:
    """`make -n …`: the commands it would run (continuation lines joined); recursive makes run
    in -n mode too, so their commands are listed."""
    proc = subprocess.run(
        ["make", "-n", "--no-print-directory", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout.replace("\\\n", " ").splitlines()


def _command(lines: list[str], module: str) -> str:
    (line,) = [line for line in lines if f"-m {module} " in line]
    return line


def test_the_locale_does_not_choose_the_language_model(tmp_path):
    lines = _dry("lm", f"OUTPUT={tmp_path}", env={"LANG": "en_US.UTF-8"})
    assert "--lang en " in _command(lines, "filtermodels.lm")
    assert "--lang en " in _command(lines, "filtermodels.cutoffs")
    lines = _dry("lm", "LM_LANG=bg", f"OUTPUT={tmp_path}", env={"LANG": "en_US.UTF-8"})
    assert "--lang bg " in _command(lines, "filtermodels.lm")


def test_models_are_built_from_local_runs_when_the_pipelines_go_to_a_bucket(tmp_path):
    remote = ("BUCKET=gs://b", "RUNNER=DataflowRunner", "PROJECT=p", "REGION=r")
    lines = _dry("lm", f"OUTPUT={tmp_path}", *remote)
    wikipedia = _command(lines, "pipelines.wikipedia")
    # The pipeline writes where lm's check and lm's input look, and runs locally to do so.
    assert f"--output {tmp_path}/wikipedia " in wikipedia
    assert "--runner=FnApiRunner" in wikipedia and "--project" not in wikipedia
    assert f"--wikipedia {tmp_path}/wikipedia " in _command(lines, "filtermodels.lm")
    (tmp_path / "wikipedia").mkdir()
    (tmp_path / "wikipedia/report.json").write_text("{}")
    lines = _dry("lm", f"OUTPUT={tmp_path}", *remote)  # found: not run again
    assert not [line for line in lines if "-m pipelines.wikipedia " in line]
    # The mined output itself does go to the bucket.
    mine = _command(_dry("commoncrawl", f"MODELS={tmp_path}/m", *remote), "pipelines.commoncrawl")
    assert "--output gs://b/out/commoncrawl " in mine and "--runner=DataflowRunner" in mine


def test_nproc_is_torchruns_process_count_and_nothing_else(tmp_path):
    tokens = tmp_path / "tokens/wikipedia"
    tokens.mkdir(parents=True)
    (tokens / "_manifest.json").write_text("{}")
    train = ("train", f"TOKENS={tmp_path}/tokens", f"OUT={tmp_path}/run")
    assert "/bin/python -m training.train " in _command(_dry(*train), "training.train")
    launch = _command(_dry(*train, "NPROC=2"), "training.train")
    assert "torchrun --standalone --nproc_per_node=2 -m training.train" in launch
    # `make tokenize train NPROC=2` must not also run the pipelines with NPROC workers.
    cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    for given in (("NPROC=7",), ()):
        wiki = _command(_dry("wikipedia", *given, env={"NPROC": "5"}), "pipelines.wikipedia")
        assert f"--direct_num_workers={cores} " in wiki + " "


def test_clean_keeps_training_runs_unless_asked(tmp_path):
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    out = tmp_path / "out"
    for name in ("train/run/checkpoints/step-1/model.pt", "commoncrawl/report.json", "tokens/x"):
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("x")
    make = ["make", "--no-print-directory", "-C", str(tmp_path)]
    subprocess.run([*make, "clean"], check=True, capture_output=True, timeout=60)
    assert sorted(p.name for p in out.iterdir()) == ["train"]
    assert (out / "train/run/checkpoints/step-1/model.pt").is_file()
    subprocess.run([*make, "clean-train"], check=True, capture_output=True, timeout=60)
    assert list(out.iterdir()) == []


def test_help_lists_every_target_and_the_switches():
    proc = subprocess.run(["make", "help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    listed = {line.split()[0] for line in proc.stdout.splitlines() if line.strip()}
    targets = set()
    for line in (ROOT / "Makefile").read_text().splitlines():
        if line.startswith(".PHONY:") or (targets and line.startswith("        ")):
            targets.update(line.removeprefix(".PHONY:").replace("\\", " ").split())
        elif targets:
            break
    assert targets - listed == set()
    assert {"format", "clean", "clean-train", "distclean"} <= listed
    assert "STRICT=1" in proc.stdout and "QUICK=1" in proc.stdout
