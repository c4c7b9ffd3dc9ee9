"""Command-line plumbing shared by the pipelines: our options, then Beam's.

Local runs default to the FnApiRunner: Beam 2.77's default DirectRunner first tries to download
the Prism runner, and its multi_threading mode drops elements, so both are refused or replaced.
"""

from __future__ import annotations

import argparse
import os

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from core import preflight
from readers.wet import snapshot_wet_paths

BEAM_EPILOG = """\
Every other option goes to Apache Beam. Local runs use the FnApiRunner; add
--direct_num_workers=N --direct_running_mode=multi_processing to use N processes.
Dataflow: --runner=DataflowRunner --project=P --region=R --temp_location=gs://B/tmp
--extra_package=<this project's wheel, from `pip wheel --no-deps -w build/dist .`> (or
--setup_file=./pyproject.toml where pypa `build` is installed); --dry_run=True builds the job
without submitting it.
"""


def parser(description: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        description=description,
        epilog=BEAM_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def beam_options(beam_args: list[str]) -> PipelineOptions:
    args = list(beam_args)
    if not any(a.startswith("--runner") for a in args):
        args.append("--runner=FnApiRunner")
    options = PipelineOptions(args)
    direct = options.get_all_options()
    if direct.get("direct_running_mode") == "multi_threading":
        raise SystemExit(
            "--direct_running_mode=multi_threading loses elements in Beam 2.77; "
            "use multi_processing (or in_memory)"
        )
    if direct.get("direct_running_mode") == "multi_processing":
        # Worker processes must import this project: make sure they find it even without pip -e.
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
        if root not in paths:
            os.environ["PYTHONPATH"] = os.pathsep.join(p for p in [root, *paths] if p)
    return options


def expand(patterns: list[str], what: str) -> list[str]:
    """Files matching local or remote (gs://, s3://) patterns, sorted; none is an error."""
    paths: set[str] = set()
    for pattern in patterns:
        found = [m.path for m in FileSystems.match([pattern])[0].metadata_list]
        if not found:
            raise preflight.PreflightError(f"no {what} matches {pattern!r}")
        paths.update(found)
    return sorted(paths)


def expand_with_directories(patterns: list[str], what: str) -> list[str]:
    """Local directories as they are (readers walk them), then files and globs, local or
    remote, expanded."""
    directories = sorted(p for p in patterns if "://" not in p and os.path.isdir(p))
    rest = [p for p in patterns if p not in directories]
    return directories + (expand(rest, what) if rest else [])


def add_wet_inputs(parser: argparse.ArgumentParser, source: argparse._MutuallyExclusiveGroup):
    """--wet files, or --snapshot with --segments streamed from --cc_base_url (CCNet and C4)."""
    source.add_argument("--wet", nargs="+", help="WET files or globs (local, gs://, s3://)")
    source.add_argument("--snapshot", help="a Common Crawl snapshot, e.g. CC-MAIN-2019-18")
    parser.add_argument("--segments", default="0:1", help="with --snapshot: WET files start:end")
    parser.add_argument(
        "--cc_base_url", default="https://data.commoncrawl.org", help="where snapshots are read"
    )


def wet_inputs(args: argparse.Namespace) -> list[str]:
    """The WET files add_wet_inputs' options name, listed now (a snapshot's over HTTPS)."""
    if args.snapshot:
        return snapshot_wet_paths(args.snapshot, args.segments, args.cc_base_url)
    return expand(args.wet, "WET file")


def runner_name(options: PipelineOptions) -> str:
    return str(options.get_all_options().get("runner") or "FnApiRunner")
