"""The training worker process: ``python -m core.worker <job folder>`` (started by core.jobs)."""

from __future__ import annotations

import fcntl
import json
import shutil
import sys
import time
import traceback
from pathlib import Path

import pandas as pd

from .config import TrainConfig
from .jobs import _read_json, _write_state
from .registry import model_path


def run(folder: Path) -> int:
    request = _read_json(folder / "request.json")
    cancel_file = folder / "cancel"
    lock = open(folder.parent / ".trainer.lock", "w")
    while True:  # queue: one training at a time on this machine
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if cancel_file.exists():
                _write_state(folder, "cancelled", message="Cancelled while waiting in the queue.")
                return 0
            time.sleep(0.5)
    _write_state(folder, "running", message="Training")
    events = open(folder / "events.jsonl", "a", encoding="utf-8")

    def on_progress(event) -> None:
        events.write(json.dumps(event.to_dict(), ensure_ascii=False, default=float) + "\n")
        events.flush()

    try:
        from .training import TrainingCancelled, train

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
        _write_state(
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
        _write_state(folder, "cancelled", message=str(exc))
    except ValueError as exc:  # problems with the data or settings, worded for people
        _write_state(folder, "failed", message=str(exc))
    except MemoryError:
        _write_state(folder, "failed", message="Out of memory: try a smaller batch size or max length.")
    except Exception as exc:  # noqa: BLE001 - anything else is a bug, but the user needs an answer
        traceback.print_exc()
        _write_state(folder, "failed", message=f"Unexpected error ({type(exc).__name__}): {exc}. Details are in {folder / 'worker.log'}.")
    finally:
        events.close()
        (folder / "data.csv").unlink(missing_ok=True)  # the user's data is not kept around
    return 0


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1])))
