"""Command line: ``python -m core train|predict|evaluate|choose|check|zero-shot|generate|serve|api-token|export|monitor|retrain|versions|rollback|base-models ...``.

The train/predict/evaluate interface is used by outside evaluations: keep it stable.
Errors print one line for people and exit 2 (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .config import METHODS, PRECISIONS, TrainConfig, default_of, range_text
from .files import json_default
from .reading import POSITION_NUMBERING
from .registry import find_model  # a model the command line names: a folder as typed, else a saved model's name
from .words import rows_words


def _add_profile_col(parser: argparse.ArgumentParser) -> None:
    # --feature-col is the option's name before the rename to "profile columns" (issue 14): old
    # scripts still pass it, so it stays an alias of --profile-col (same dest).
    parser.add_argument("--profile-col", "--feature-col", action="append", default=[], dest="profile_cols",
                        help="profile column, e.g. age or segment (repeatable; --feature-col is its old name)")


def _add_reading(parser: argparse.ArgumentParser) -> None:
    """--sheet and --header-row: how a file is read (core.reading.read_table), for every command that reads one."""
    parser.add_argument("--sheet", default=None,
                        help="Excel workbook: the sheet to read (default: the first holding the columns asked for; "
                             "messages name the others)")
    parser.add_argument("--header-row", type=int, default=None, metavar="N",
                        help=f"the row holding the column names ({POSITION_NUMBERING}), when a title block sits "
                             "above them (default: found)")


def _read(args: argparse.Namespace, columns: list[str], say: bool = True, label: str | None = None):
    """``args.data`` read as every entry point reads a file (core.reading.read_table, with
    ``--sheet``/``--header-row``), its notes printed on stderr (``say``), and the columns the
    command needs required (a message naming the columns found, the closest match and the
    workbook's other sheets)."""
    from .reading import read_table

    if args.header_row is not None and args.header_row < 1:
        raise ValueError(f"--header-row counts from 1 ({POSITION_NUMBERING}); got {args.header_row}.")
    loaded = read_table(args.data, Path(args.data).name, sheet=args.sheet, header_row=args.header_row,
                        columns=[c for c in [label, *columns] if c])
    for note in loaded.notes if say else ():  # how the file was read (stray bytes, decimal commas, a title block)
        print(f"note: {note}", file=sys.stderr)
    if label:
        loaded.require([label], lead=f"Label column '{label}' is not in the file")
    loaded.require([c for c in columns if c])
    return loaded


def _add_tags(parser: argparse.ArgumentParser, default: str) -> None:
    """--multi-label / --no-multi-label, --label-sep and --merge-label-case, for ``train`` and ``check`` (``default``:
    what happens when neither is passed)."""
    parser.add_argument("--multi-label", action=argparse.BooleanOptionalAction, default=None,
                        help="several tags per row: the label column holds tags joined by '|', ';' or ',' or JSON "
                             f"lists; {default}")
    parser.add_argument("--label-sep", default=None, metavar="SEP",
                        help="with --multi-label: how the tags are joined: '|', ';', ',' or 'json' (default: found in "
                             "the data)")
    parser.add_argument("--merge-label-case", action=argparse.BooleanOptionalAction,
                        default=default_of("merge_label_variants"),
                        help="labels or tags that differ only in case ('positive'/'Positive') are one, spelled as the "
                             "most frequent (default on, as the Train page's 'Merge labels that differ only in case'); "
                             "--no-merge-label-case keeps them apart")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Marketune: fine-tune and use text models.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train on a labelled CSV (the leaderboard: TF-IDF, embeddings, few-shot or fine-tuning; the best is saved) and print test metrics as JSON")
    t.add_argument("--data", required=True, help="training CSV")
    t.add_argument("--text-col", action="append", default=[], dest="text_cols",
                   help="text column (repeatable); without one, the profile columns go to the response comparison")
    _add_profile_col(t)
    t.add_argument("--label-col", required=True)
    t.add_argument("--response", action="store_true",
                   help="response comparison (gradient boosting on the profile columns, the hybrid with a text "
                        "score when text columns are given); the default without --text-col")
    t.add_argument("--positive-class", default=None,
                   help="response comparison: the label value that means 'responded' (default: a yes-like value, else the rarer)")
    t.add_argument("--with-transformer", action="store_true",
                   help="response comparison: also fine-tune the transformer on the row as text (minutes, not seconds)")
    t.add_argument("--out", required=True, help="folder to save the model in")
    t.add_argument("--task", choices=["classification", "regression"], default=None,
                   help="default: regression when the label holds numbers with many distinct values, else classification")
    t.add_argument(
        "--method",
        choices=list(METHODS),
        default=None,
        help="default: the base model's preset, else auto (few-shot for small labelled sets, full fine-tuning "
             "otherwise); embedding: the base model's frozen sentence embeddings + logistic regression (seconds)",
    )
    t.add_argument("--base-model", default="auto",
                   help="catalog name, local HF folder, hub id, or 'auto' (the default: chosen by the text's "
                        "language, as the Train page does: minilm-en for English, multilingual-e5-small otherwise)")
    t.add_argument("--freeze-embeddings", action=argparse.BooleanOptionalAction, default=None,
                   help="keep word embeddings fixed (default: the base model's preset)")
    # Defaults and ranges are TrainConfig's own (its field metadata), as on the Train page.
    t.add_argument("--epochs", type=float, default=default_of("epochs"), help=f"{range_text('epochs')}")
    t.add_argument("--lr", type=float, default=None, help="learning rate (default: 1e-4 full, 2e-3 LoRA, 2e-5 few-shot)")
    t.add_argument("--batch-size", type=int, default=default_of("batch_size"), help=f"{range_text('batch_size')}")
    t.add_argument("--max-length", type=int, default=default_of("max_length"), help=f"{range_text('max_length')}")
    t.add_argument("--seed", type=int, default=default_of("seed"))
    t.add_argument("--class-weighting", action=argparse.BooleanOptionalAction, default=default_of("class_weighting"),
                   help="weight the loss by inverse class frequency (default on; --no-class-weighting: every row counts the same)")
    t.add_argument("--split-col", default=None, help="column with train/validation/test per row")
    _add_tags(t, "each tag gets a sigmoid output and a threshold chosen on validation (default: as the Train "
                 "page, per tag when the label column looks like tag lists, said on stderr; --no-multi-label on such a "
                 "column is refused, naming the joined values)")
    t.add_argument("--max-train-seconds", type=float, default=default_of("max_train_seconds"))
    t.add_argument("--precision", choices=PRECISIONS, default=default_of("precision"),
                   help="auto: bfloat16 autocast for fine-tuning on a CPU with native bf16 (default); fp32: off")
    t.add_argument("--refit", action=argparse.BooleanOptionalAction, default=default_of("refit_on_all_rows"),
                   help="after choosing, retrain the transformer on train + validation for the same epochs, as a plain "
                        "fine-tune does (default on: about as long again, the model fitted on the training rows saved "
                        "meanwhile); --no-refit saves the fine-tune on the training rows")
    t.add_argument("--keep-transformer", action="store_true",
                   help="save the requested model (the fine-tune, or --method embedding/fewshot) even when a cheaper "
                        "candidate scores as well or better on validation")
    t.add_argument("--overwrite", action="store_true", help="replace an existing model folder")
    t.add_argument("--resume", action="store_true",
                   help="continue an interrupted run from its checkpoint (OUT.checkpoint, written at each evaluation; "
                        "same data and settings required)")
    t.add_argument("--quiet", action="store_true", help="print only the final JSON line")
    _add_reading(t)

    p = sub.add_parser("predict", help="predict every row of a CSV into a new CSV")
    p.add_argument("--model", required=True, help="saved model folder, or the name of a model in models/")
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True,
                   help="file to write: .csv (or any other name: CSV text) or .xlsx (an Excel workbook, text cells kept "
                        "exactly)")
    p.add_argument("--batch-size", type=int, default=64, help="rows per forward pass (with --engine ray: inside each "
                   "actor, which gets core.ray_predict.rows_per_call rows per call)")
    p.add_argument("--fast", action="store_true", help="the faster int8 or bf16 form of the model, where its check on the test split passed")
    p.add_argument("--raw", action="store_true", help="write every text exactly as read; by default a cell a "
                   "spreadsheet would run as a formula (=, +, -, @ ...; see docs/data.md) gets a leading apostrophe")
    p.add_argument("--ood", action="store_true", help="append an out_of_distribution column: True for rows unlike "
                   "the training data (sentence-embedding distance beyond the training texts' own spread)")
    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="local: this process (pandas, chunked); ray: Ray Data with a pool of scoring actors")
    p.add_argument("--ray-address", default=None,
                   help="with --engine ray: 'auto' or ray://host:10001 joins a cluster; default: a local Ray")
    p.add_argument("--workers", type=int, default=2, help="with --engine ray: scoring actors (each loads the model once)")
    p.add_argument("--parts", action="store_true",
                   help="with --engine ray: --out is a folder with one CSV per input file instead of one CSV")
    _add_reading(p)

    e = sub.add_parser("evaluate", help="score a saved model on a labelled CSV; prints JSON")
    e.add_argument("--model", required=True)
    e.add_argument("--data", required=True)
    e.add_argument("--label-col", required=True)
    _add_reading(e)

    b = sub.add_parser("base-models", help="list or install base models")
    bsub = b.add_subparsers(dest="action", required=True)
    bsub.add_parser("list")
    install = bsub.add_parser("install")
    install.add_argument("name")
    install.add_argument("--if-missing", action="store_true", help="do nothing when it is already built")
    ch = sub.add_parser("choose", help="list a saved model's candidates, or put a kept one in its place (no retraining)")
    ch.add_argument("model", metavar="MODEL", help="saved model folder, or the name of a model in models/")
    ch.add_argument("candidate", metavar="KIND", nargs="?",
                    help="kind of the kept candidate to put in place, as the list says it in [kind: ...] (e.g. tfidf, "
                         "transformer); without it, list them")
    _add_check_parser(sub)
    _add_serve_parser(sub)
    _add_export_parser(sub)
    m = sub.add_parser("monitor", help="a model's scoring history against its training data, with drift alarms")
    m.add_argument("model_named", nargs="?", metavar="MODEL", help="the model, as --model says it (either form)")
    m.add_argument("--model", help="saved model folder, or the name of a model in models/")
    m.add_argument("--fail-on-alarm", action="store_true", help="exit 3 when the latest scorings raised an alarm "
                   "(the newest ones of the model in use pooled to at least 50 rows; for a scheduled check)")
    _add_version_parsers(sub)
    _add_generate_parser(sub)
    _add_zero_shot_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one line for people unless --debug
        if args.debug:
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        kind = "" if isinstance(exc, ValueError) else f"{type(exc).__name__}: "
        print(f"error: {kind}{message}", file=sys.stderr)
        return 2


def cmd_train(args: argparse.Namespace) -> int:
    """Train and save. Under ``torchrun``/``accelerate launch`` every process trains its share of
    each batch; only rank 0 prints and writes ``--out``, the others return 0 without touching it.

    Candidates run cheapest first (core.pipeline): one JSON line per candidate as it finishes
    (``{"event": "candidate", ...}``, :func:`candidate_line`), and the best so far is saved at
    ``--out`` each time the leader changes, so it is usable while later candidates run; the last
    line is the final JSON. A model folder is always whole (written beside ``--out`` and renamed
    into place). Fine-tuning keeps a checkpoint beside it, ``<out>.checkpoint/``, rewritten at each
    evaluation and removed once the model is saved; ``--resume`` continues from it (printing
    "resumed from step N of M" on stderr) and refuses a checkpoint of other data or settings.
    Without ``--resume`` an old checkpoint is replaced by the new run's."""
    import os

    from .training import is_main_process

    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if args.response or not args.text_cols:
        if launched > 1:
            raise ValueError(f"the response comparison runs in one process; found {launched} launched "
                             "(run it with plain `python -m core train`, not torchrun or accelerate launch)")
        return _train_response(args)
    from . import checkpoint as checkpoints
    from .pipeline import train

    main_rank = is_main_process()
    out = Path(args.out)
    # Only rank 0 writes --out, so only rank 0 asks: under torchrun another rank may start after
    # rank 0 has saved the best so far there (seen in CI: rank 1 refused rank 0's own TF-IDF save).
    if main_rank and out.exists() and not args.overwrite and not args.resume:  # a resumed run saved its best so far there
        raise ValueError(f"{out} already exists; pass --overwrite to replace it.")
    checkpoint = checkpoint_folder(out)
    if args.resume and checkpoints.read_progress(checkpoint) is None:
        raise ValueError(f"--resume: there is no checkpoint at {checkpoint} to continue from (one is written at each "
                         "evaluation of a fine-tuning run and removed when its model is saved); run without --resume "
                         "to start afresh.")
    if not args.resume and checkpoint.exists() and main_rank:
        progress = checkpoints.read_progress(checkpoint)
        if progress is not None:
            print(f"note: starting afresh; the checkpoint of an interrupted run (step {progress['step']} of "
                  f"{progress['total_steps']}) in {checkpoint} is replaced (pass --resume to continue it)", file=sys.stderr)
        checkpoints.remove(checkpoint)
    # Any file the Train page reads, read as it reads it.
    loaded = _read(args, [*args.text_cols, *args.profile_cols, args.label_col, args.split_col], say=main_rank,
                   label=args.label_col)
    df = _tags_checked(args, loaded.frame, say=main_rank, verb="train")
    task = _task_for(args, df, say=main_rank)
    base_model = _base_model_for(args, df, say=main_rank)
    # The base model's preset (e.g. frozen embeddings for multilingual-e5-small), under what the
    # user passed explicitly.
    from .base_models import training_defaults

    chosen = {"method": args.method, "freeze_embeddings": args.freeze_embeddings, "multi_label": args.multi_label,
              "label_sep": args.label_sep}
    preset = {"method": "auto", **training_defaults(base_model), **{k: v for k, v in chosen.items() if v is not None}}
    config = TrainConfig(
        text_columns=tuple(args.text_cols),
        profile_columns=tuple(args.profile_cols),
        label_column=args.label_col,
        task=task,
        base_model=base_model,
        epochs=args.epochs,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        max_length=args.max_length,
        seed=args.seed,
        class_weighting=args.class_weighting,
        split_column=args.split_col,
        max_train_seconds=args.max_train_seconds,
        precision=args.precision,
        refit_on_all_rows=args.refit,
        choose_simpler=not args.keep_transformer,
        merge_label_variants=args.merge_label_case,
        **preset,
    )

    saved, on_progress = {"any": False}, _train_printer(args, out, main_rank)

    def on_leader(result) -> None:  # the best so far, usable at --out while later candidates run
        if main_rank:
            result.save(out, overwrite=args.overwrite or args.resume or saved["any"], pause="leader-save")
            saved["any"] = True

    # Under torchrun only rank 0 writes the checkpoint; the others read it only to resume (never
    # an old one that rank 0 is replacing).
    result = train(df, config, on_progress=on_progress, checkpoint=checkpoint if main_rank or args.resume else None,
                   on_leader=on_leader)
    if not main_rank:  # rank 0 saves and reports
        return 0
    m = result.metrics
    for warning in m.get("warnings", result.warnings):  # cross-validated: no small-test-split one (small_data.describe)
        print(f"warning: {warning}", file=sys.stderr)
    result.save(out, overwrite=args.overwrite or args.resume or saved["any"])
    checkpoints.remove(checkpoint)
    _report_training(result, config, out)
    return 0


def _report_training(result: Any, config: TrainConfig, out: Path) -> None:
    """``train``'s end: the verdict and its notice on stderr, then the one JSON line of results."""
    m = result.metrics
    verdict = m.get("verdict") or {}
    from .result import verdict_account, verdict_notice  # the verdict's words, as the pages say them: once

    if verdict.get("sentence"):
        print(f"verdict: {verdict_account(verdict)}", file=sys.stderr)
    if (notice := verdict_notice(verdict)) is not None:
        print(f"warning: {notice[0].upper()}: {notice[1]}", file=sys.stderr)
    print(json.dumps({
        "model": m["model"],
        "baselines": m["baselines"],
        "split_sizes": m["split_sizes"],
        "stopped_reason": m["stopped_reason"],
        "train_seconds": m["train_seconds"],  # the saved model's own fit (a fine-tune's loop, not its refit)
        "total_seconds": m.get("total_seconds"),  # the whole run: every candidate, the scoring and the refit
        "method_chosen": m.get("method_chosen", config.method),
        "method_reason": m.get("method_reason", ""),
        **({"cv": m["cv"]} if "cv" in m else {}),
        "saved_kind": m.get("saved_kind", ""),
        **({"candidates": m["candidates"]} if "candidates" in m else {}),  # the fine-tuned model, when not saved
        "kept_candidates": sorted(result.alternatives),  # in MODEL_DIR/candidates/; `choose` puts one in place
        "verdict": {k: verdict.get(k) for k in ("chosen", "reason", "delta", "ci", "p_value", "within_noise", "useless", "caution",
                                                  "sentence")},
        # {"rows", "steps"?, "sentence"} of the refit on more rows, or None (then the saved model is the copy
        # fitted on split_sizes["train"] rows; refit_skipped says why where one was due).
        "refit": m.get("refit"),
        **({"refit_skipped": m["refit_skipped"]} if m.get("refit_skipped") else {}),
        "model_dir": str(out),
    }, default=json_default), flush=True)


def _train_printer(args: argparse.Namespace, out: Path, main_rank: bool) -> Any:
    """``train``'s progress callback: a line per 10 steps and per evaluation (none with --quiet),
    "resumed from step N of M" on stderr, and one JSON line per candidate (:func:`candidate_line`)."""
    reported: set[tuple[str, str]] = set()

    def on_progress(event) -> None:
        if event.leaderboard and main_rank:
            candidate_line(event, out, reported)
        if event.message.startswith("Resumed from step"):
            print(event.message.replace("Resumed", "resumed", 1), file=sys.stderr, flush=True)
        if args.quiet:
            return
        if event.phase == "train" and event.step % 10 and event.step != event.total_steps:
            return
        parts = [f"[{event.phase}]", f"step {event.step}/{event.total_steps}", f"epoch {event.epoch:.2f}"]
        if event.loss is not None:
            parts.append(f"loss {event.loss:.4f}")
        if event.eta_s is not None:
            parts.append(f"eta {event.eta_s:.0f}s")
        if event.message:
            parts.append(event.message)
        print(" ".join(parts), flush=True)

    return on_progress


def candidate_line(event: Any, out: Path, reported: set[tuple[str, str]]) -> None:
    """Print one JSON line for each candidate that has just finished, been stopped early, skipped or
    failed (``{"event": "candidate", kind, score, metric, n_val, seconds, status, leader, saved,
    note}``), read from the leaderboard of a progress event; each (kind, status) once. ``saved``:
    it is the model at ``out`` now. ``reported``: the (kind, status) pairs printed so far in this run."""
    for row in event.leaderboard:
        if row["status"] not in ("done", "stopped early", "skipped", "failed") or (row["leader"] and not row["saved"]):
            continue  # a new leader is reported once it is saved
        if (row["kind"], row["status"]) in reported:
            continue
        reported.add((row["kind"], row["status"]))
        fields = ("kind", "score", "metric", "n_val", "seconds", "status", "leader", "saved", "note", "cv_score", "cv_n")
        print(json.dumps({"event": "candidate", **{k: row.get(k) for k in fields}, "model_dir": str(out) if row["saved"] else None},
                         default=json_default), flush=True)


def _train_response(args: argparse.Namespace) -> int:
    """``train`` without a text column (or with ``--response``): the response comparison of
    ``core.response`` on the profile (``--profile-col``) columns; saves the recommended model
    (refitted on every labelled row) in ``--out`` and prints the comparison as one JSON line."""
    from .columns import suggest_setup
    from .response import ResponseSetup, train_response_models, transformer_base_model

    if args.resume:
        print("note: the response comparison keeps no checkpoint; it starts again from the beginning", file=sys.stderr)
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise ValueError(f"{out} already exists; pass --overwrite to replace it.")
    if args.task == "regression":
        raise ValueError("the response comparison predicts a yes/no response; --task regression needs --text-col")
    df = _read(args, [*args.profile_cols, *args.text_cols], label=args.label_col).frame
    guess = suggest_setup(df, args.label_col)
    profile = list(args.profile_cols) or [c for c in guess["profile_columns"] if c not in args.text_cols]
    if not args.profile_cols:
        print(f"profile columns (pass --profile-col to choose): {', '.join(profile)}", file=sys.stderr)
    positive = args.positive_class if args.positive_class is not None else guess["positive_class"]
    base_model = args.base_model
    if base_model == "auto":
        base_model, reason = transformer_base_model(df, args.text_cols)
        if reason:
            print(f"base model: {reason}", file=sys.stderr)
    settings = {"epochs": args.epochs, "batch_size": args.batch_size, "max_length": args.max_length,
                "class_weighting": args.class_weighting}
    if args.lr is not None:
        settings["learning_rate"] = args.lr
    if args.max_train_seconds is not None:
        settings["max_train_seconds"] = args.max_train_seconds

    def on_progress(p) -> None:
        if args.quiet or (p.phase == "transformer" and p.step % 10):
            return
        print(f"[{p.phase}] {p.fraction:.0%} {p.message}", flush=True)

    setup = ResponseSetup(profile, args.text_cols, args.label_col, positive, base_model, seed=args.seed,
                          include_transformer=args.with_transformer, transformer_settings=settings)
    comp = train_response_models(df, setup, on_progress=on_progress)
    for warning in comp.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    chosen = comp.candidates[comp.recommended]
    chosen.model.save(out, overwrite=args.overwrite)
    keys = ("roc_auc", "top_decile_lift", "precision_top_10pct", "recall_top_10pct", "ece_uncalibrated",
            "ece_calibrated", "calibration_method", "validation_roc_auc", "train_seconds", "fitted_on_rows")
    print(json.dumps({
        "task": "response",
        "label_column": comp.label_column,
        "positive_class": comp.positive_class,
        "profile_columns": comp.profile_columns,
        "text_columns": comp.text_columns,
        "split_sizes": {k: int(v) for k, v in comp.split.value_counts().items()},
        "models": {name: {k: c.metrics.get(k) for k in keys} for name, c in comp.candidates.items()},
        "recommended": comp.recommended,
        "recommendation": comp.recommendation,
        "metrics_note": chosen.metrics.get("refit_note", "Metrics are on the held-out test split."),
        "model_dir": str(out),
    }, default=json_default), flush=True)
    return 0


def checkpoint_folder(out: Path) -> Path:
    """Where ``train --out OUT`` keeps its checkpoint: ``OUT.checkpoint`` beside it."""
    return out.with_name(out.name + ".checkpoint")


def _tags_checked(args: argparse.Namespace, df, say: bool, verb: str):
    """``df`` after the several-tags-per-row checks of ``train`` and ``check`` (``verb``: "train" or
    "check", for the words): ``--label-sep`` needs ``--multi-label``; without ``--multi-label`` or
    ``--no-multi-label``, a list-like label column is read per tag, as the Train page ticks its box
    for it (``args.multi_label`` set from core.multilabel.detect and said on stderr when ``say``);
    with ``--no-multi-label``, ``train`` refuses naming the joined values (core.multilabel.refusal, as
    the Train page with its box unticked) and ``check`` names the finding and checks each combination."""
    from .multilabel import detect

    asked = args.multi_label is True or args.label_col not in df.columns
    found = None if asked else detect(df[args.label_col], args.label_col)
    if args.multi_label is None:
        args.multi_label = found is not None
        if found is not None and say:
            done = {"train": "Trained", "check": "Checked"}[verb]
            print(f"note: {found.finding()} {done} per tag, as the Train page does when it ticks 'Several tags per "
                  f"row' for you; pass --no-multi-label to {verb} every combination of tags as a class of its own.",
                  file=sys.stderr)
    elif not args.multi_label and found is not None and verb == "train":
        from .multilabel import refusal

        raise ValueError(refusal(found, df[args.label_col], "Drop --no-multi-label (the tags are then found and each "
                                 "learned on its own) or pass --multi-label."))
    elif not args.multi_label and found is not None and say:
        print(f"note: {found.sentence()}", file=sys.stderr)
    if args.label_sep and not args.multi_label:
        raise ValueError("--label-sep says how several tags per row are joined; pass --multi-label with it.")
    return df


def _task_for(args: argparse.Namespace, df, say: bool = True) -> str:
    """``--task`` as given, else what the Train page suggests for the label column
    (``validate_mapping``'s suggested_task: regression for numbers with many distinct values),
    said on stderr when it is regression (``say``: this process prints)."""
    if args.task:
        return args.task
    if getattr(args, "multi_label", False):  # tags are names, never a quantity
        return "classification"
    from .data import suggest_task

    suggested = suggest_task(df, args.label_col)
    if suggested == "regression" and say:
        print(f"task: regression ('{args.label_col}' holds numbers with many distinct values; "
              "--task classification overrides it)", file=sys.stderr)
    return suggested


def _base_model_for(args: argparse.Namespace, df, say: bool = True) -> str:
    """``--base-model auto`` (the default): chosen by the language of the text columns, as the
    Train page's picker does (``recommend_base_model``): the multilingual model for mostly
    non-English text (built first when missing), else the English default. Says on stderr which model
    and why (``say``: this process prints). An explicit ``--base-model`` is used as given."""
    if args.base_model != "auto":
        return args.base_model
    from .base_models import DEFAULT_BASE_MODEL, language_mix, needs_build, recommend_base_model
    from .data import build_texts

    texts = build_texts(df, tuple(args.text_cols), ())
    name, reason = recommend_base_model(texts, DEFAULT_BASE_MODEL)
    if say:
        why = reason or f"The text is {language_mix(texts).describe()}, so the English model fits."
        if needs_build(name):  # built by training itself, with progress: never swapped for another model
            why += " It is not built yet on this machine: training builds it first (offline, about a minute)."
        print(f"base model: {name} (chosen by the text's language; --base-model overrides it). {why}", file=sys.stderr)
    return name


def cmd_predict(args: argparse.Namespace) -> int:
    from .models import load_folder
    from .predict import predict_csv

    if args.engine != "ray" and (args.ray_address or args.parts):
        raise ValueError("--ray-address and --parts need --engine ray.")
    workbook = _out_kind(args.out) == "xlsx"
    if workbook and args.engine == "ray":
        raise ValueError(f"--out {args.out}: --engine ray writes CSV; name the output .csv, or run without "
                         "--engine ray to write an Excel workbook.")
    if args.engine == "ray" and (args.sheet or args.header_row):
        raise ValueError("--sheet and --header-row read one workbook; --engine ray reads each file's first sheet "
                         "holding the model's columns and its header as found (run without --engine ray to choose them).")
    args.model = str(find_model(args.model))  # a name or a folder, as serve and export take it
    model = load_folder(args.model)
    from .models.zeroshot import unchecked_scores_note

    if (unchecked := unchecked_scores_note(model)) is not None:  # said where Predict says it
        print(f"note: {unchecked}", file=sys.stderr)
    if args.fast and not getattr(model, "fast_forms", ()):
        # Training may save TF-IDF or trees in place of a transformer; they have no faster form and
        # are already fast, so a script that always passes --fast keeps working - and is told so.
        from .models.folder import MANIFEST, read_json
        from .registry import KIND_NAMES

        kind = read_json(Path(args.model) / MANIFEST).get("kind")
        print(f"fast path: not needed, this is a {KIND_NAMES.get(kind, kind)} model: it has no faster form "
              "(already fast); scored as it is", file=sys.stderr)
        args.fast = False
    elif args.fast and (onnx := _onnx_form(args.model, both_torch=True)) is not None:
        model = onnx  # faster than every torch form the export measured: no torch check needed
    elif args.fast:
        from .fastpath import check_fast_path, read_fast_path

        record = read_fast_path(args.model)
        if record is None:  # checked once per model folder, then recorded in fast_path.json
            print("checking the fast path (int8, bf16) on the model's test split ...", file=sys.stderr, flush=True)
            record = check_fast_path(args.model, model)
        # The ONNX form against the torch form that would run: the fast path's, else the full model.
        torch_form = "torch_bf16" if record["passed"] and record["method"] == "bf16" else "torch_fp32"
        onnx = _onnx_form(args.model, torch_form=torch_form, quiet_without=not record["passed"])
        if onnx is not None:
            model = onnx
        elif not record["passed"]:
            raise ValueError(f"--fast is not offered for this model: {record['reason']}. Run without --fast.")
        else:
            print(f"fast path: {record['method']} ({record['reason']})", file=sys.stderr)
            model.quantize(record["method"])

    def on_progress(p) -> None:
        total = f"/{p.total_steps:,}" if p.total_steps else ""
        eta = f" eta {p.eta_s:.0f}s" if p.eta_s is not None else ""
        print(f"\rpredicted {p.step:,}{total} rows{eta}   ", end="", file=sys.stderr, flush=True)

    facts: dict[str, Any] = {}
    ood = None
    if args.ood:
        from .predict import ood_reference

        ood = ood_reference(model, args.model)
        if ood is None:
            print("note: no out-of-distribution flag: this model reads no text, or its folder has no training "
                  "texts to compare with (no ood_reference.safetensors nor test_predictions.csv)", file=sys.stderr)
    if args.engine == "ray":
        from .ray_predict import predict_ray

        summary, facts = predict_ray(
            args.model, args.data, args.out, address=args.ray_address, workers=args.workers,
            model_batch_size=args.batch_size, fast=args.fast, parts=args.parts, on_progress=on_progress,
            formula_safe=not args.raw, ood=ood is not None, history="cli",
        )
    elif workbook:  # scored into CSV beside it, then written as a workbook (core.export, as Predict's download)
        summary = _predict_workbook(model, args, on_progress, ood)
    else:
        summary = predict_csv(model, args.data, args.out, batch_size=args.batch_size, on_progress=on_progress,
                              formula_safe=not args.raw, ood=ood, sheet=args.sheet, header_row=args.header_row,
                              history="cli")
    print(file=sys.stderr)
    for note in getattr(summary, "notes", ()):  # how the file was read (a sheet's title block, gzip...)
        print(f"note: {note}", file=sys.stderr)
    if getattr(summary, "renamed", None):
        from .predict import renamed_message

        print(f"note: {renamed_message(summary.renamed)}", file=sys.stderr)
    n_ood = getattr(summary, "n_out_of_distribution", None)
    if n_ood is not None:
        from .ood import ood_message

        print(f"note: {ood_message(n_ood, summary.n_rows)}", file=sys.stderr)
    if language := getattr(summary, "language_warning", None):  # core.language_check: texts it does not read
        from .language_check import cli_words

        print(f"warning: {cli_words(language)}", file=sys.stderr)
    print(json.dumps({
        "rows": summary.n_rows,
        "rows_without_prediction": summary.n_errors,
        "seconds": round(summary.seconds, 2),
        "rows_per_second": round(summary.rows_per_second, 1),
        "output": str(summary.output),
        **({"out_of_distribution": n_ood} if n_ood is not None else {}),
        **({"engine": "ray", **facts} if facts else {}),
    }))
    return 0


# Output names predict refuses: they promise a format it does not write (CSV text under them misleads).
NOT_WRITTEN = (".xls", ".xlsm", ".xlsb", ".ods", ".parquet", ".json", ".jsonl", ".feather", ".tsv")


def _out_kind(out: str) -> str:
    """"xlsx" or "csv" for ``predict --out``; a name promising another format is refused, naming
    the supported ones."""
    suffix = Path(out).suffix.lower()
    if suffix == ".xlsx":
        return "xlsx"
    if suffix in NOT_WRITTEN:
        raise ValueError(f"--out {out}: predict writes .csv (comma-separated text) or .xlsx (an Excel workbook), "
                         f"not {suffix}; name the output file .csv or .xlsx.")
    return "csv"


def _predict_workbook(model: Any, args: argparse.Namespace, on_progress: Any, ood: Any) -> Any:
    """``predict --out FILE.xlsx``: every row scored into a CSV beside it, read back typed
    (core.predict.read_predictions) and written as a workbook whose text cells stay text
    (core.export.to_xlsx_bytes: no formula runs, no apostrophe added); the CSV is removed."""
    import dataclasses

    from .export import to_xlsx_bytes
    from .files import atomic_write
    from .predict import output_task, predict_csv, read_predictions

    out = Path(args.out)
    scratch = out.with_name(f".{out.name}.csv.partial")
    try:
        summary = predict_csv(model, args.data, scratch, batch_size=args.batch_size, on_progress=on_progress,
                              formula_safe=False, ood=ood, sheet=args.sheet, header_row=args.header_row,
                              history="cli")
        if summary.n_rows > EXCEL_MAX_ROWS:
            raise ValueError(f"--out {out}: {summary.n_rows:,} rows do not fit in one Excel sheet "
                             f"({EXCEL_MAX_ROWS:,} at most); name the output .csv.")
        atomic_write(out, to_xlsx_bytes(read_predictions(scratch, output_task(model), list(getattr(model, "classes_", [])))))
    finally:
        scratch.unlink(missing_ok=True)
    return dataclasses.replace(summary, output=out) if dataclasses.is_dataclass(summary) else summary


EXCEL_MAX_ROWS = 1_048_575  # an Excel sheet's rows, less the header


def cmd_evaluate(args: argparse.Namespace) -> int:
    import numpy as np

    from .data import clean_labels, to_number
    from .evaluation import classification_metrics, regression_metrics
    from .models import load_folder
    from .predict import ERROR_COLUMN, check_columns, output_names, predict_frame

    model = load_folder(find_model(args.model))  # any model kind (transformer, few-shot), by name or folder
    loaded = _read(args, list(model.input_columns), label=args.label_col)
    df = loaded.frame
    check_columns(model, df.columns, sheet_hint=loaded.missing_hint)
    label = df[args.label_col]
    keep = label.notna() & (label.astype(str).str.strip() != "")
    result = predict_frame(model, df.loc[keep])
    name = output_names(model, df.columns)  # the file may already have a 'confidence' column
    scored = result[name[ERROR_COLUMN]] == ""
    if not scored.any():
        raise ValueError("No row has both text and a label to evaluate on.")
    if getattr(model, "multi_label", False):  # several tags per row: the cells parsed as training parsed them
        from .multilabel import evaluate_tags, file_separator, separator_words, unknown_tag_rows

        proba = result.loc[scored, [name[f"p_{c}"] for c in model.classes_]].to_numpy(dtype=float)
        values = result.loc[scored, args.label_col].tolist()
        # The file's own separator (an export may write '; ' or JSON lists), else the model's.
        separator = file_separator(values, model.label_sep, args.label_col)
        if separator != model.label_sep:
            print(f"note: the tags in '{args.label_col}' are read as {separator_words(separator)}, as found in this "
                  f"file; the model was trained on {separator_words(model.label_sep)}.", file=sys.stderr)
        metrics = evaluate_tags(values, proba, list(model.classes_), model.thresholds, separator)
        if unknown := unknown_tag_rows(values, list(model.classes_), separator):
            shown = ", ".join(f"'{t}' ({rows_words(n)})" for t, n in list(unknown.items())[:10])
            more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
            print(f"note: {len(unknown)} tag(s) in '{args.label_col}' are not ones the model learned, so they are left "
                  f"out of the scores: {shown}{more}. The model knows {len(model.classes_)} tags: "
                  f"{', '.join(repr(str(c)) for c in model.classes_[:10])}"
                  f"{' ...' if len(model.classes_) > 10 else ''}.", file=sys.stderr)
    elif model.task == "regression":
        truth = to_number(result.loc[scored, args.label_col])
        ok = truth.notna() & np.isfinite(truth.fillna(0))
        metrics = regression_metrics(truth[ok], result.loc[scored, name["predicted_value"]][ok])
    else:
        # Labels cleaned as training cleaned them (1.0 -> "1", invisible characters out), and a
        # spelling that differs from a class only in case counts as that class.
        truth = clean_labels(result.loc[scored, args.label_col], merge_case=False).fillna("")
        by_case = {str(c).casefold(): str(c) for c in model.classes_}
        truth = truth.map(lambda v: v if v in set(map(str, model.classes_)) else by_case.get(v.casefold(), v))
        unknown = sorted(set(truth) - set(map(str, model.classes_)))
        proba = result.loc[scored, [name[f"p_{c}"] for c in model.classes_]].to_numpy(dtype=float)
        metrics = classification_metrics(truth, result.loc[scored, name["predicted_label"]], list(model.classes_), proba)
        if unknown:
            metrics["labels_not_in_model"] = unknown
    metrics["rows_skipped"] = int(len(df) - int(np.sum(scored)))
    print(json.dumps(metrics, default=json_default))
    return 0


def cmd_base_models(args: argparse.Namespace) -> int:
    from .base_models import CATALOG, resolve_base_model

    if args.action == "list":
        for name, (_, description) in CATALOG.items():
            try:
                where = resolve_base_model(name).location
            except ValueError as exc:
                where = f"not installed ({exc})"
            print(f"{name}: {description}\n    {where}")
        return 0
    from .base_models import ensure_base_model, install_base_model, needs_build

    report = lambda f, m: print(f"{f:4.0%} {m}", flush=True)  # noqa: E731
    if args.if_missing:  # make's set-up: build once, then a no-op
        if not needs_build(args.name):
            print(f"{args.name}: already built (or bundled); nothing to do")
            return 0
        ensure_base_model(args.name, on_progress=report)
        path = resolve_base_model(args.name).location
    else:
        path = install_base_model(args.name, on_progress=report)
    print(f"installed {args.name} in {path}")
    return 0


def cmd_choose(args: argparse.Namespace) -> int:
    """``choose MODEL``: one line per candidate (the model in place first) with its validation
    and test scores and its lead in words. ``choose MODEL KIND``: put that kept candidate
    in place (core.versions.choose: the model's versions, holdout and scoring history stay; the swap
    is an event of its version history), then the same lines."""
    from .candidates import candidates_of, choice_sentence, fitted_on
    from .models.folder import METRICS, read_json
    from .versions import choose

    folder = find_model(args.model)  # a folder or a saved model's name, as every --model (the one resolver)
    if args.candidate:
        put_aside = choose(folder, args.candidate)
        print(f"{args.candidate} is now in place in {folder}; {put_aside} is kept as a candidate "
              f"(python -m core choose {args.model} {put_aside} switches back); the swap is in the model's version "
              "history (python -m core versions)", file=sys.stderr)
    found = candidates_of(folder)
    if not found:
        print(f"{folder.name} keeps no other candidate (models saved before candidates were kept, or by a trainer "
              "that compares none)", file=sys.stderr)
        return 0
    for candidate in found:
        rows = fitted_on(candidate)  # a kept candidate is not retrained after the comparison; the model in place may be
        print(candidate.line() + (f"  ({rows})" if rows else ""))
    chosen = choice_sentence(read_json(folder / METRICS))
    if chosen:
        print(f"note: {chosen}", file=sys.stderr)
    return 0


COMMANDS = {"train": cmd_train, "predict": cmd_predict, "evaluate": cmd_evaluate, "base-models": cmd_base_models,
            "choose": cmd_choose}


# ----------------------------------------------------------------------------- check (issue 15)


def _add_check_parser(sub: Any) -> None:
    c = sub.add_parser("check", help="data-health check (label errors, duplicates, outliers) into an ISSUES.csv")
    c.add_argument("--data", required=True, help="labelled CSV or Excel file")
    c.add_argument("--text-col", action="append", default=[], dest="text_cols", required=True,
                   help="text column (repeatable)")
    _add_profile_col(c)
    c.add_argument("--label-col", required=True)
    c.add_argument("--task", choices=["classification", "regression"], default=None,
                   help="default: regression when the label holds numbers with many distinct values, else classification")
    c.add_argument("--base-model", default="minilm-en", help="whose sentence embeddings the check uses (--features)")
    c.add_argument("--features", choices=["auto", "tfidf", "embeddings", "both"], default="auto",
                   help="what the label-error model reads; auto: TF-IDF and the base model's embeddings when it loads")
    _add_tags(c, "each tag is checked on its own (default: as the Train page, per tag when the label column looks "
                 "like tag lists, said on stderr; --no-multi-label checks each combination as a class)")
    c.add_argument("--seed", type=int, default=42)
    c.add_argument("--out", required=True, help="ISSUES.csv to write (one line per flagged row and issue)")
    _add_reading(c)


def cmd_check(args: argparse.Namespace) -> int:
    """Writes ISSUES.csv and prints a summary; exits 0 whenever the check ran, whatever it found."""
    from .check import check
    from .data import ROW_NUMBERING, TAG_LISTS, validate_mapping

    df = _read(args, [*args.text_cols, *args.profile_cols], label=args.label_col).frame
    # Several tags per row: checked per tag when the column looks like tag lists, as the Train page
    # ticks its box (said on stderr); --no-multi-label names the finding and checks combinations.
    df = _tags_checked(args, df, say=True, verb="check")
    config = TrainConfig(text_columns=tuple(args.text_cols), profile_columns=tuple(args.profile_cols),
                         label_column=args.label_col, task=_task_for(args, df), base_model=args.base_model,
                         seed=args.seed, multi_label=bool(args.multi_label),
                         label_sep=args.label_sep if args.multi_label else None,
                         merge_label_variants=args.merge_label_case)
    if config.label_column in df.columns and all(c in df.columns for c in config.text_columns):
        # What training would say about these columns (rows it leaves out, label spellings, small
        # classes), so the check's output is never read without it.
        mapping = validate_mapping(df, config)
        for problem in [*mapping.errors, *mapping.warnings]:
            if problem.kind != TAG_LISTS:  # tag lists: said once, just above
                print(f"note: {problem.message}", file=sys.stderr)
    report = check(df, config, features=args.features,
                   on_progress=lambda e: print(f"[check] {e.fraction:4.0%} {e.message}", file=sys.stderr, flush=True))
    Path(args.out).write_bytes(report.to_csv_bytes())
    print(report.summary())
    # Said once: the rows in ISSUES.csv count from 0, as in every message and page (core.data.ROW_NUMBERING).
    print(f"wrote {len(report.issues):,} line(s) for {len(report.rows()):,} row(s) to {args.out}; its 'row' column "
          f"numbers the data rows from 0 ({ROW_NUMBERING})")
    return 0


COMMANDS["check"] = cmd_check


# ----------------------------------------------------------------------------- serve (issue 31)


def _add_serve_parser(sub: Any) -> None:
    s = sub.add_parser("serve", help="an HTTP API for a saved model (FastAPI; OpenAPI docs at /docs)")
    s.add_argument("--model", default=None, help="saved model folder, or the name of a model in models/ "
                   "(with --team: the model name used when a request names none with ?model=NAME)")
    s.add_argument("--host", default="127.0.0.1", help="beyond loopback a token is required (MARKETUNE_API_TOKEN)")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--token-file", default=None, help="file whose first line is the bearer token "
                   "(default: $MARKETUNE_API_TOKEN; none: no token needed, loopback only)")
    s.add_argument("--team", action="store_true", help="team server: each request's token (`api-token add`) "
                   "picks its holder's workspace, where ?model=NAME is found")
    s.add_argument("--secrets", default=None, help="the team server's secrets.toml (default .streamlit/secrets.toml)")
    s.add_argument("--engine", choices=("uvicorn", "ray"), default="uvicorn",
                   help="ray: the same app as a Ray Serve deployment with --replicas replicas")
    s.add_argument("--replicas", type=int, default=2, help="Ray Serve replicas (--engine ray)")
    s.add_argument("--cpus-per-replica", type=float, default=0.5, help="Ray CPUs per replica (--engine ray)")
    s.add_argument("--max-rows", type=int, default=1000, help="rows per request (413 beyond)")
    s.add_argument("--max-text-chars", type=int, default=10_000, help="characters per text (413 beyond)")
    t = sub.add_parser("api-token", help="team server: issue, list or revoke a person's API token")
    tsub = t.add_subparsers(dest="token_command", required=True)
    add = tsub.add_parser("add", help="issue a token for PERSON (printed once; only its SHA-256 is kept)")
    add.add_argument("person", help="the e-mail the person signs in with, or their workspace id u-...")
    tsub.add_parser("list", help="the tokens issued (ids and holders, never the tokens)")
    rev = tsub.add_parser("revoke", help="remove a token by the id `list` shows")
    rev.add_argument("token_id")
    for parser in (add, tsub.choices["list"], rev):
        parser.add_argument("--secrets", default=None, help="the team server's secrets.toml (default .streamlit/secrets.toml)")


def cmd_serve(args: argparse.Namespace) -> int:
    from .serve import ApiLimits, check_exposure, read_token, serve

    limits = ApiLimits(max_rows=args.max_rows, max_text_chars=args.max_text_chars)
    if args.team:
        from .api_tokens import team_settings_from
        from .serve_team import serve_team

        if args.engine == "ray":
            raise ValueError("--engine ray serves one model folder; --team serves every workspace: use one of them.")
        if args.token_file:
            raise ValueError("--team reads each person's token from the server's token file (`api-token add`); "
                             "--token-file is for a single model.")
        serve_team(team_settings_from(args.secrets), model=args.model, host=args.host, port=args.port, limits=limits)
        return 0
    if not args.model:
        raise ValueError("--model is required (a saved model folder or name), unless --team.")
    token = read_token(args.token_file)
    check_exposure(args.host, token)  # before the model loads: a refusal costs nothing
    if args.engine == "ray":
        from .serve_ray import serve_ray

        serve_ray(find_model(args.model), host=args.host, port=args.port, token=token, limits=limits,
                  replicas=args.replicas, cpus_per_replica=args.cpus_per_replica)
        return 0
    serve(find_model(args.model), host=args.host, port=args.port, token=token, limits=limits)
    return 0


def cmd_api_token(args: argparse.Namespace) -> int:
    """``add`` prints the new token once on stdout (its holder on stderr); ``list`` prints JSON."""
    from .api_tokens import issue, list_tokens, revoke, team_settings_from

    settings = team_settings_from(args.secrets)
    if args.token_command == "add":
        token, record = issue(settings, args.person)
        print(f"token {record['id']} for {record['person'] or record['workspace']} ({record['workspace']}); "
              "shown once, only its SHA-256 is kept: send it as 'Authorization: Bearer <token>'", file=sys.stderr)
        print(token)
    elif args.token_command == "list":
        print(json.dumps(list_tokens(settings)))
    else:
        record = revoke(settings, args.token_id)
        print(f"revoked token {record['id']} of {record['person'] or record['workspace']}", file=sys.stderr)
    return 0


COMMANDS["api-token"] = cmd_api_token
COMMANDS["serve"] = cmd_serve


# ----------------------------------------------------------------------------- export (issue 31)


def _add_export_parser(sub: Any) -> None:
    x = sub.add_parser("export", help="export a fine-tuned transformer to ONNX, checked on its test split")
    x.add_argument("--model", required=True, help="saved model folder, or the name of a model in models/")
    x.add_argument("--format", choices=["onnx"], default="onnx")
    x.add_argument("--int8", action="store_true", help="quantize the ONNX weights to int8 (ONNX Runtime)")


def cmd_export(args: argparse.Namespace) -> int:
    from .onnx_form import export

    print("exporting and checking on the model's test split ...", file=sys.stderr, flush=True)
    record = export(find_model(args.model), int8=args.int8)
    print(json.dumps(record))
    return 0


def _onnx_form(folder: str, *, both_torch: bool = False, torch_form: str = "torch_fp32",
               quiet_without: bool = False) -> Any:
    """The model in its checked ONNX form (``python -m core export``) when its recorded rows/s beat
    ``torch_form``'s (``both_torch``: beat both torch forms the export measured, else None without a
    word), saying which form runs and why; None otherwise."""
    from .onnx_form import load_onnx, onnx_or_torch, read_record

    record = read_record(folder)
    if record is None:
        return None
    if both_torch:
        if not all(onnx_or_torch(record, form)[0] for form in ("torch_fp32", "torch_bf16")):
            return None
        use, why = onnx_or_torch(record, "torch_bf16")
    else:
        use, why = onnx_or_torch(record, torch_form)
    if use:
        print(f"fast path: ONNX Runtime, {record['file']} ({why}; {record['reason']})", file=sys.stderr)
        return load_onnx(folder)
    if not quiet_without:
        print(f"fast path: the ONNX form is not used: {why}", file=sys.stderr)
    return None


COMMANDS["export"] = cmd_export


def cmd_monitor(args: argparse.Namespace) -> int:
    """Prints the history as JSON (core.monitor.report) and, on stderr, the latest scorings' alarms in
    words and which scorings they judge (the newest pooled to at least 50 rows)."""
    from .monitor import MIN_ROWS_FOR_ALARM, report

    if args.model and args.model_named and args.model != args.model_named:
        raise ValueError(f"Two models named: '{args.model_named}' and --model '{args.model}'; name one.")
    name = args.model or args.model_named
    if not name:
        raise ValueError("Name the model: python -m core monitor MODEL (or --model MODEL).")
    found = report(find_model(name))
    print(json.dumps(found))
    if not found["history"]:
        print("no scoring recorded yet: predict, the Predict page, the Dashboard and serve add to it", file=sys.stderr)
    else:
        print(f"judged on {found['last_in_words']}" + ("" if found["last_covers"]["rows"] >= MIN_ROWS_FOR_ALARM else
              f": alarms need at least {MIN_ROWS_FOR_ALARM} rows"), file=sys.stderr)
    for alarm in found["last_alarms"]:
        print(f"alarm: {alarm}", file=sys.stderr)
    return 3 if args.fail_on_alarm and found["alarm"] else 0


COMMANDS["monitor"] = cmd_monitor


# ----------------------------------------------------------------------------- retrain, versions (issue 31)


def _add_version_parsers(sub: Any) -> None:
    r = sub.add_parser("retrain", help="train a challenger on old + new labels; promote it only when better")
    r.add_argument("--model", required=True, help="saved model folder, or the name of a model in models/")
    r.add_argument("--data", required=True, help="the labelled rows the model was trained on (or all you have)")
    r.add_argument("--new", required=True, help="newly labelled rows (30%% of them judge the challenger)")
    r.add_argument("--seed", type=int, default=42)
    _add_reading(r)
    v = sub.add_parser("versions", help="list a model's kept versions (replaced models, challengers that lost)")
    v.add_argument("--model", required=True)
    v.add_argument("--json", action="store_true", help="the kept versions as JSON (times as text) instead of words")
    b = sub.add_parser("rollback", help="put a kept version back in place (the one in use is kept as a version)")
    b.add_argument("--model", required=True)
    b.add_argument("--to", default=None, metavar="VERSION",
                   help="e.g. v2 (default: the newest version that was in use before: replaced, or rolled back from)")
    b.add_argument("--anyway", action="store_true", help="put back a challenger that lost its comparison "
                   "(refused without it; its score against the model in use is printed either way)")


def _said_progress(event: Any) -> None:
    """A retrain's progress on stderr: the events that say something (a step's event often has no words)."""
    if str(event.message or "").strip():
        print(f"[{event.phase}] {event.message}", file=sys.stderr, flush=True)


def cmd_retrain(args: argparse.Namespace) -> int:
    from .models import load_folder
    from .versions import challenge

    folder = find_model(args.model)
    current = load_folder(folder)
    label = current.training_config.get("label_column")
    data = _read(args, current.input_columns, label=label).frame
    new = _read(argparse.Namespace(**{**vars(args), "data": args.new}), current.input_columns, label=label).frame
    outcome = challenge(folder, data, new, seed=args.seed,
                        on_progress=_said_progress)
    print(outcome.sentence, file=sys.stderr)
    print(json.dumps({"promoted": outcome.promoted, "in_use": outcome.in_use, "version_kept": outcome.version,
                      "sentence": outcome.sentence,
                      "delta": outcome.comparison["delta"], "ci": outcome.comparison["ci"],
                      "n_holdout": outcome.n_holdout, "n_new_eval": outcome.n_new_eval,
                      "n_trained": outcome.n_trained, "n_review": outcome.n_review,
                      "review_file": outcome.review_file}, default=json_default))
    return 0


def cmd_versions(args: argparse.Namespace) -> int:
    """The versions in words (core.versions.versions_in_words), or ``--json``: list_versions with
    ``set_aside`` as local time text."""
    import time

    from .registry import KIND_NAMES
    from .versions import list_versions, versions_in_words

    folder = find_model(args.model)
    if args.json:
        kept = [{**v, "set_aside": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(v["set_aside"]))}
                if isinstance(v.get("set_aside"), (int, float)) else v for v in list_versions(folder)]
        print(json.dumps(kept, default=json_default))
    else:
        print("\n".join(versions_in_words(folder, KIND_NAMES)))
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    """Says the version's score against the model in use on the same rows (core.versions.rollback_risk)
    first; a challenger that lost its comparison is put back only with --anyway."""
    from .versions import NOT_PROMOTED, list_versions, previous_version, rollback, rollback_risk

    folder = find_model(args.model)
    version = args.to or rollback(folder, None, dry_run=True)
    risk = rollback_risk(folder, version)
    print(risk.sentence, file=sys.stderr)
    # its latest comparison, carried through any rollbacks since (core.versions.carried_comparison)
    outcome = {v["version"]: v.get("outcome") for v in list_versions(folder)}.get(version)
    if outcome == NOT_PROMOTED and not args.anyway:
        raise ValueError(f"{version} is a challenger that lost its comparison (above); nothing was changed. "
                         "Add --anyway to put it in place all the same.")
    put = rollback(folder, version)
    aside = previous_version(folder)  # the model that was in use: set aside last, numbered if it was not
    print(f"rolled back from {aside} to {put}: {put} is in use now, {aside} is kept as a version (rollback --to "
          f"{aside} undoes it)", file=sys.stderr)
    return 0


COMMANDS.update(retrain=cmd_retrain, versions=cmd_versions, rollback=cmd_rollback)
# ----------------------------------------------------------------------------- generate (issue 30)


def _add_generate_parser(sub: Any) -> None:
    from .generate import GENERATOR_LICENCE, GENERATOR_NAME, MAX_REWRITES

    g = sub.add_parser("generate", help=f"suggest rewrites of an ad copy, written offline by {GENERATOR_NAME} "
                                        f"({GENERATOR_LICENCE}) and scored by your model, into a CSV")
    g.add_argument("--model", required=True, help="the classifier that scores them: a saved model folder or name")
    g.add_argument("--text", required=True, help="the base ad copy to rewrite")
    g.add_argument("--n", type=int, default=5, help=f"rewrites wanted (1-{MAX_REWRITES}; default 5)")
    g.add_argument("--tone", default=None, help="e.g. playful, formal, urgent")
    g.add_argument("--keep", action="append", default=[], help="a word every rewrite must keep (repeatable)")
    g.add_argument("--avoid", action="append", default=[], help="a word no rewrite may use (repeatable)")
    g.add_argument("--max-chars", type=int, default=None, help="longest rewrite in characters (default: no limit)")
    g.add_argument("--success", default=None, help="the class whose probability is the score (default: the "
                   "model's success class, as in Ad Copy Lab)")
    g.add_argument("--seed", type=int, default=0, help="sampling seed of the first attempt (the next get +1, +2, ...)")
    g.add_argument("--out", required=True, help="CSV to write: one row per rewrite with its score")


def cmd_generate(args: argparse.Namespace) -> int:
    """Writes the scored rewrites (CSV, base first) and prints a JSON summary."""
    import pandas as pd

    from .export import to_csv_bytes
    from .files import atomic_write
    from .generate import generator_info, not_english, suggest_rewrites
    from .models import load_folder

    not_english(args.text, cli=True)  # refused in the CLI's words, before the model loads
    model = load_folder(find_model(args.model))  # a saved model folder, or its name
    result = suggest_rewrites(
        args.text, args.n, classifier=model, positive_class=args.success, tone=args.tone, keep_words=args.keep,
        avoid_words=args.avoid, max_chars=args.max_chars, seed=args.seed,
        on_progress=lambda p: print(f"[generate] {p.fraction:4.0%} {p.message}", file=sys.stderr, flush=True))
    base = pd.DataFrame([{"name": "Base", "text": args.text, "score": result.base_score, "delta": 0.0,
                          "verdict": "base", "rank": result.base_rank, "seed": None, "top_words": ""}])
    frame = pd.concat([base, result.to_frame()], ignore_index=True) if len(result) else base
    info = generator_info()
    frame = frame.assign(score_of=f"P({result.positive_class})" if result.positive_class else "predicted value",
                         generator=result.generator)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(Path(args.out), to_csv_bytes(frame))
    print(json.dumps({
        "rewrites": len(result), "wanted": args.n, "attempts": result.attempts, "dropped": result.dropped,
        "tokens": result.tokens, "generation_seconds": round(result.generation_s, 2),
        "tokens_per_second": round(result.tokens / result.generation_s, 2) if result.generation_s else None,
        "generator": result.generator, "licence": info["licence"], "output": str(args.out),
    }))
    if len(result) < args.n:
        print(f"note: only {len(result)} of {args.n} rewrites passed the filters; {result.dropped_text()}",
              file=sys.stderr)
    return 0


COMMANDS["generate"] = cmd_generate
# ----------------------------------------------------------------------------- zero-shot (issue 30)


def _add_zero_shot_parser(sub: Any) -> None:
    z = sub.add_parser("zero-shot", help="build a model from category names, without labels (core.zeroshot)")
    z.add_argument("--data", required=True, help="CSV or Excel file of unlabelled rows (centres the scores and "
                   "gives the self-training rows; no label column is read)")
    z.add_argument("--text-col", action="append", default=[], dest="text_cols", required=True,
                   help="text column (repeatable)")
    z.add_argument("--labels", required=True, help='category names separated by commas, e.g. "complaint,praise,question"')
    z.add_argument("--descriptions", default=None,
                   help='optional, per category: "complaint=the customer reports a problem;praise=..."')
    z.add_argument("--base-model", default="auto",
                   help="catalog name, local HF folder, or 'auto' (the default: by the text's language, as train)")
    z.add_argument("--no-self-training", action="store_true",
                   help="use label-name similarity alone (default: self-train on the file's surest rows)")
    z.add_argument("--seed", type=int, default=0)
    z.add_argument("--out", required=True, help="folder to save the model in")
    z.add_argument("--overwrite", action="store_true", help="replace an existing model folder")
    _add_reading(z)


def cmd_zero_shot(args: argparse.Namespace) -> int:
    """Build, save and describe a zero-shot model; prints one JSON line (the model was never trained on labels)."""
    from .language_check import build_warning
    from .zeroshot import Options, build_zeroshot, parse_descriptions, parse_labels, rows_to_read

    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise ValueError(f"{out} already exists; pass --overwrite to replace it.")
    labels = parse_labels(args.labels)  # bad names fail before the file is read
    parse_descriptions(args.descriptions, labels)
    df = _read(args, args.text_cols).frame
    if args.base_model == "auto":
        args.base_model = _base_model_for(args, df)
    if language := build_warning(args.base_model, rows_to_read(df, args.text_cols, args.seed), cli=True):
        print(f"warning: {language}", file=sys.stderr, flush=True)  # before the minutes of the build
    model = build_zeroshot(df, labels, text_columns=args.text_cols, descriptions=args.descriptions,
                           base_model=args.base_model, options=Options(self_training=not args.no_self_training),
                           seed=args.seed,
                           on_progress=lambda f, m: print(f"[zero-shot] {f:4.0%} {m}", file=sys.stderr, flush=True))
    for warning in model.metrics.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    model.save(out, overwrite=args.overwrite)
    print(json.dumps({"model_dir": str(out), "kind": "zeroshot", "classes": list(model.classes_),
                      "base_model": model.base_model, "method": model.zero_shot["method"],
                      "rows_read": model.metrics["rows_read"], "seconds": model.metrics["train_seconds"],
                      "trained_on_labels": False, "note": model.metrics["evaluation"]}, ensure_ascii=False))
    return 0


COMMANDS["zero-shot"] = cmd_zero_shot
