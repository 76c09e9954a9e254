"""The training worker process: ``python -m core.worker <job folder>`` (started by core.jobs)."""

from __future__ import annotations

import fcntl
import json
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import pandas as pd

from .config import TrainConfig
from .jobs import read_request, write_state
from .progress import TrainingCancelled
from .registry import model_path


def run(folder: Path) -> int:
    request = read_request(folder)
    if request.get("kind") == "response":
        return run_response(folder, request)
    cancel_file = folder / "cancel"
    lock = _wait_for_turn(folder)  # queue: one training at a time on this machine
    if lock is None:
        return 0
    write_state(folder, "running", message="Training")
    events = open(folder / "events.jsonl", "a", encoding="utf-8")

    def on_progress(event) -> None:
        events.write(json.dumps(event.to_dict(), ensure_ascii=False, default=float) + "\n")
        events.flush()

    try:
        from .training import train

        config = TrainConfig.from_dict(request["config"])
        df = pd.read_csv(folder / "data.csv", keep_default_na=False, na_values=[""])
        result = train(df, config, on_progress=on_progress, cancel=cancel_file.exists)
        destination = model_path(request["model_name"], Path(request["models_dir"]))
        if cancel_file.exists():  # sent after training's last check
            raise TrainingCancelled("Training was cancelled; nothing was saved.")
        existed = destination.exists()
        result.save(destination, overwrite=request.get("overwrite", False))
        if cancel_file.exists():  # sent while saving: take the new folder away again
            if not existed:
                shutil.rmtree(destination, ignore_errors=True)
            raise TrainingCancelled(
                "Training was cancelled; nothing was saved." if not existed
                else "Training was cancelled while saving; the model it was replacing had already been overwritten."
            )
        verdict = result.metrics.get("verdict") or {}
        write_state(
            folder,
            "done",
            message="Saved",
            model_path=str(destination),
            saved_kind=result.metrics.get("saved_kind", ""),
            useless=bool(verdict.get("useless")),
            verdict=verdict.get("sentence", ""),
            warning=verdict.get("warning", ""),
        )
    except TrainingCancelled as exc:
        write_state(folder, "cancelled", message=str(exc))
    except ValueError as exc:  # problems with the data or settings, worded for people
        write_state(folder, "failed", message=str(exc))
    except MemoryError:
        write_state(folder, "failed", message="Out of memory: try a smaller batch size or max length.")
    except Exception as exc:  # noqa: BLE001 - anything else is a bug, but the user needs an answer
        traceback.print_exc()
        write_state(folder, "failed", message=f"Unexpected error ({type(exc).__name__}): {exc}. Details are in {folder / 'worker.log'}.")
    finally:
        events.close()
        lock.close()
        (folder / "data.csv").unlink(missing_ok=True)  # the user's data is not kept around
    return 0


def _wait_for_turn(folder: Path) -> Any:
    """The exclusive trainer lock (the queue shared with training jobs), or None when the job
    was cancelled while waiting (its state is then written)."""
    cancel_file = folder / "cancel"
    lock = open(folder.parent / ".trainer.lock", "w")
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return lock
        except BlockingIOError:
            if cancel_file.exists():
                write_state(folder, "cancelled", message="Cancelled while waiting in the queue.")
                lock.close()
                return None
            time.sleep(0.5)


def run_response(folder: Path, request: dict[str, Any]) -> int:
    """A response-model comparison job (``core.jobs.start_response_job``): compare, save the
    comparison in ``<folder>/result``, save the recommended model in the registry. Events are
    ``{"phase", "fraction", "message", "time"}`` plus the transformer's step fields."""
    lock = _wait_for_turn(folder)
    if lock is None:
        return 0
    cancel_file = folder / "cancel"
    result_dir = folder / "result"
    write_state(folder, "running", message="Comparing response models")
    events = open(folder / "events.jsonl", "a", encoding="utf-8")

    def on_progress(progress) -> None:
        event = {"phase": progress.stage, "fraction": progress.fraction, "message": progress.message, "time": time.time()}
        if progress.train_event is not None:
            step = progress.train_event.to_dict()
            event.update({k: step.get(k) for k in ("step", "total_steps", "epoch", "loss", "eta_s")})
            event["train_phase"] = step.get("phase")
        events.write(json.dumps(event, ensure_ascii=False, default=float) + "\n")
        events.flush()

    try:
        from .response import ComparisonProgress, deploy, save_comparison, train_response_models

        r = request["response"]
        df = pd.read_csv(folder / "data.csv", keep_default_na=False, na_values=[""])
        comparison = train_response_models(
            df, r["profile_columns"], r["text_columns"], r["label_column"], r["positive_class"],
            base_model=r.get("base_model", "minilm-en"), on_progress=on_progress, cancel=cancel_file.exists,
            seed=int(r.get("seed", 0)), include_transformer=bool(r.get("include_transformer")),
            transformer_settings=r.get("transformer_settings") or None,
            transformer_max_train_rows=r.get("transformer_max_train_rows"),
            column_kinds=r.get("column_kinds") or None,
        )
        # A cancel that arrives after the last model is trained still means "save nothing".
        if cancel_file.exists():
            raise TrainingCancelled("Cancelled; nothing was saved.")
        on_progress(ComparisonProgress("save", 1.0, "Saving the models"))
        save_comparison(comparison, result_dir)
        if cancel_file.exists():
            raise TrainingCancelled("Cancelled; nothing was saved.")
        destination = deploy(comparison, None, request["model_name"], root=Path(request["models_dir"]),
                             overwrite=request.get("overwrite", False))
        write_state(folder, "done", message="Saved", model_path=str(destination), recommended=comparison.recommended)
    except TrainingCancelled as exc:
        shutil.rmtree(result_dir, ignore_errors=True)
        write_state(folder, "cancelled", message=str(exc))
    except ValueError as exc:  # problems with the data or settings, worded for people
        shutil.rmtree(result_dir, ignore_errors=True)
        write_state(folder, "failed", message=str(exc))
    except MemoryError:
        shutil.rmtree(result_dir, ignore_errors=True)
        write_state(folder, "failed", message="Out of memory: leave the transformer out or use fewer rows.")
    except Exception as exc:  # noqa: BLE001 - anything else is a bug, but the user needs an answer
        traceback.print_exc()
        shutil.rmtree(result_dir, ignore_errors=True)
        write_state(folder, "failed", message=f"Unexpected error ({type(exc).__name__}): {exc}. Details are in {folder / 'worker.log'}.")
    finally:
        events.close()
        lock.close()
        (folder / "data.csv").unlink(missing_ok=True)  # the user's data is not kept around
    return 0


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1])))
