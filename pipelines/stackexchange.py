"""The StackExchange pipeline (docs/recipe/stackexchange.md): a site's posts → one document per
question, its answers under it, highest score first.

    python -m pipelines.stackexchange --input 'dump/*.7z' --output out/stackexchange \\
        --direct_num_workers=2 --direct_running_mode=multi_processing

Inputs: per-site `.7z` archives of the StackExchange data dump, or `Posts.xml` files (in a folder
named for the site), read as a stream (entities, DTDs and network off). Posts are grouped by
(site, question id) in a shuffle, never a site in one worker's memory; every answer is kept,
sorted by score as a number (RedPajama sorted score strings: "9" before "42"), ties by id. Of the
sites read, the --top_sites (28, LLaMA's) with the most questions and answers are kept. The
text is `Q: <title> <body>` then `\\nA: <answer>` per answer, HTML turned into text with code
blocks, paragraphs and list items kept. A document is a question (report.json: read = kept +
dropped, per site); answers are counted apart (`answers`: attached, and `orphan` when their
question is not in the input), and posts of other types (wiki, tag excerpts) by type.
Outputs under --output: documents/, dead_letter/, rejected/ (--write_rejects), report.json.
"""

from __future__ import annotations

import logging
from functools import partial

import apache_beam as beam

from core import preflight
from core.deadletter import DeadLetter
from core.schema import document_schema
from pipelines import accounting, launcher, options, progress
from pipelines.shards import WriteDeadLetters, WriteRejects, WriteShards
from readers.stackexchange import ANSWER, QUESTION, question_document, read_posts, site_name

SOURCE = "stackexchange"
log = logging.getLogger(SOURCE)

DOCUMENT_SCHEMA = document_schema(SOURCE)
# Counters that are not documents: answers, posts of other types, the sites chosen (their posts).
ANSWERS, OTHER, SELECTED = "answers", "other_posts", "selected_sites"


class ReadPosts(beam.DoFn):
    """A site's archive or Posts.xml → (site, question id) keyed questions and answers."""

    def process(self, path: str):
        try:
            for item in read_posts(path):
                if isinstance(item, DeadLetter):
                    group = item.details.get("site") or site_name(path)
                    yield beam.pvalue.TaggedOutput(
                        "dead", accounting.count_dead(SOURCE, group, item)
                    )
                    continue
                if item.post_type == QUESTION:
                    accounting.count(SOURCE, item.site, "read")
                    yield (item.site, item.id), item
                elif item.post_type == ANSWER and item.parent_id is not None:
                    accounting.count(SOURCE, ANSWERS, "read")
                    yield (item.site, item.parent_id), item
                else:
                    accounting.count(SOURCE, OTHER, f"type_{item.post_type}")
        except OSError as exc:
            accounting.count(SOURCE, "read", "input_errors")
            dead = DeadLetter(path, 0, "unreadable_file", f"{type(exc).__name__}: {exc}")
            yield beam.pvalue.TaggedOutput("dead", dead.to_record())
        progress.add(done=1)


def largest_sites(posts_per_site: list[tuple[str, int]], top: int | None) -> frozenset[str]:
    """The `top` sites with the most questions and answers (ties by name), all when None."""
    ranked = sorted(posts_per_site, key=lambda kv: (-kv[1], kv[0]))
    chosen = ranked if top is None else ranked[:top]
    for site, posts in chosen:
        accounting.count(SOURCE, SELECTED, site, posts)
    return frozenset(site for site, _ in chosen)


def assemble(element, write_rejects: bool, selected: frozenset[str]):
    """One question's posts → its document; answers without their question, and the posts of
    sites not selected, are counted."""
    (site, question_id), posts = element
    questions = sorted((p for p in posts if p.post_type == QUESTION), key=lambda p: p.id)
    answers = [p for p in posts if p.post_type == ANSWER]
    if site not in selected:
        accounting.count(SOURCE, ANSWERS, "site_not_selected", len(answers))
        if questions:
            accounting.count(SOURCE, site, "dropped_site_not_selected", len(questions))
        return
    if not questions:
        accounting.count(SOURCE, ANSWERS, "orphan", len(answers))
        if write_rejects:
            for answer in answers:
                reject = {"id": f"{SOURCE}/{site}/{question_id}", "answer_id": answer.id}
                yield beam.pvalue.TaggedOutput("rejects", {**reject, "reason": "orphan_answer"})
        return
    question = questions[0]
    if len(questions) > 1:  # one id twice in a dump: the first kept, the others counted
        accounting.count(SOURCE, site, "dropped_duplicate_question", len(questions) - 1)
    accounting.count(SOURCE, ANSWERS, "attached", len(answers))
    accounting.count(SOURCE, site, "kept")
    yield question_document(question, answers)


def build(pipeline: beam.Pipeline, paths: list[str], args) -> None:
    out = args.output
    read = (
        pipeline
        | "Inputs" >> beam.Create(paths)
        | "Spread" >> beam.Reshuffle()
        | "ReadPosts" >> beam.ParDo(ReadPosts()).with_outputs("dead", main="posts")
    )
    selected = (
        read.posts
        | "PostSite" >> beam.Map(lambda keyed: keyed[0][0])
        | "PostsPerSite" >> beam.combiners.Count.PerElement()
        | "AllSites" >> beam.combiners.ToList()
        | "Largest" >> beam.Map(largest_sites, args.top_sites)
    )
    documents = (
        read.posts
        | "ByQuestion" >> beam.GroupByKey()
        | "Assemble"
        >> beam.ParDo(assemble, args.write_rejects, beam.pvalue.AsSingleton(selected)).with_outputs(
            "rejects", main="documents"
        )
    )
    documents.documents | "Write" >> WriteShards(  # question_document: the schema's fields
        f"{out}/documents", args.num_shards, schema=DOCUMENT_SCHEMA
    )
    (read.dead,) | "DeadLetters" >> WriteDeadLetters(f"{out}/dead_letter")
    if args.write_rejects:
        (documents.rejects,) | "Rejects" >> WriteRejects(f"{out}/rejected")


def main(argv: list[str] | None = None) -> dict:
    parser = options.parser(__doc__.split("\n\n")[0])
    parser.add_argument(
        "--input",
        nargs="+",
        required=True,
        help="site archives (<site>.7z) or Posts.xml files (in a folder named for the site)",
    )
    parser.add_argument(
        "--sites", default=None, help="comma-separated sites to read (default: every input)"
    )
    parser.add_argument(
        "--top_sites",
        type=int,
        default=28,
        help="keep the N sites with the most questions and answers among those read, as LLaMA "
        "took the 28 largest (0: all)",
    )
    parser.add_argument("--output", required=True, help="output directory")
    parser.add_argument("--num_shards", type=int, default=4, help="shards of documents/")
    parser.add_argument("--write_rejects", action="store_true", help="write orphan answers")
    args, beam_args = parser.parse_known_args(argv)
    args.top_sites = args.top_sites or None
    preflight.check_inputs(args.input)
    launcher.setup_logging()
    pipeline_options = options.beam_options(beam_args)
    paths = options.expand(args.input, "input")
    if args.sites:
        wanted = set(args.sites.split(","))
        paths = [p for p in paths if site_name(p) in wanted]
        if not paths:
            raise SystemExit(f"no input of the sites {args.sites}")

    def own_report(counted: dict, outputs: dict) -> dict:
        return {
            "inputs": paths,
            "sites": sorted({site_name(p) for p in paths}),
            "selected_sites": counted.pop(SELECTED, {}),  # with their questions and answers
            "answers": counted.pop(ANSWERS, {}),
            "other_posts": counted.pop(OTHER, {}),
        }

    job = launcher.Job(
        name=SOURCE,
        output=args.output,
        build=partial(build, paths=paths, args=args),
        inputs=paths,
        unit="sites",
        outputs=("documents", "dead_letter", *(("rejected",) * args.write_rejects)),
        groups_key="by_site",
        report=own_report,
        dry_run={"inputs": len(paths)},
    )
    parameters = {k: v for k, v in vars(args).items() if k != "input"}
    return launcher.launch(job, parameters, beam_args, pipeline_options)


if __name__ == "__main__":
    launcher.run_module("pipelines.stackexchange")
