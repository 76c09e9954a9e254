"""The ground floor for files (core/files.py): one JSON encoder, atomic writes; and the model
folder's helpers for a kind's own files (core/models/folder.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.files import atomic_write, json_default, read_json_lines, to_json
from core.models.folder import read_own_files


def test_numpy_values_paths_and_sets_become_plain_json():
    data = {"n": np.int64(3), "x": np.float32(0.5), "ok": np.bool_(True), "a": np.arange(3), "p": Path("/m/x"),
            "s": {"b", "a"}, "t": (1, 2), "name": "café"}
    text = to_json(data)
    assert json.loads(text) == {"n": 3, "x": 0.5, "ok": True, "a": [0, 1, 2], "p": "/m/x", "s": ["a", "b"],
                                "t": [1, 2], "name": "café"}
    assert "café" in text  # UTF-8 kept, not escaped
    assert type(json_default(np.int64(3))) is int and type(json_default(np.float64(0.25))) is float


def test_anything_else_is_written_as_its_text():
    class Odd:
        def __str__(self) -> str:
            return "odd"

    assert json.loads(to_json({"v": Odd()})) == {"v": "odd"}


def test_a_failed_atomic_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "state.json"
    atomic_write(path, b"old")

    with pytest.raises(TypeError):
        atomic_write(path, object())  # type: ignore[arg-type]  # fails while writing
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_kinds_own_files_missing_or_damaged_are_refused_by_name(tmp_path):
    from safetensors.numpy import save_file

    (tmp_path / "k.json").write_text('{"a": 1}', encoding="utf-8")
    with pytest.raises(ValueError, match="no k.safetensors; the test model's weights are missing"):
        read_own_files(tmp_path, "k.json", "k.safetensors", "the test model")
    save_file({"w": np.ones(3)}, str(tmp_path / "k.safetensors"))
    meta, arrays = read_own_files(tmp_path, "k.json", "k.safetensors", "the test model")
    assert meta == {"a": 1} and arrays["w"].tolist() == [1.0, 1.0, 1.0]
    (tmp_path / "k.safetensors").write_bytes(b"\x00" * 5)
    with pytest.raises(ValueError, match="the test model's files are damaged"):
        read_own_files(tmp_path, "k.json", "k.safetensors", "the test model")


def test_read_json_lines_keeps_every_good_line_in_order_and_skips_a_damaged_one(tmp_path):
    good = [{"at": 1, "event": "a"}, [1, 2], "text", {"at": 3}]
    lines = [json.dumps(good[0]), json.dumps(good[1]), '{"at": 2, "ev', json.dumps(good[2]), json.dumps(good[3])]
    path = tmp_path / "h.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert read_json_lines(path) == [json.loads(line) for line in lines if line != '{"at": 2, "ev'] == good
    assert read_json_lines(tmp_path / "absent.jsonl") == []
