import io
import shutil
import zipfile

import pytest

from core import delete_model, list_models, load_model, validate_name, zip_model


@pytest.mark.parametrize("name", ["../evil", "/etc/passwd", ".hidden", "a/b", "a\\b", "..", "", "x" * 65, "name with space", "a..b"])
def test_bad_names_refused(name):
    with pytest.raises(ValueError, match="not allowed"):
        validate_name(name)


@pytest.mark.parametrize("name", ["sentiment-v2", "Q3_campaign.model", "a"])
def test_good_names_accepted(name):
    assert validate_name(name) == name


def test_list_load_zip_delete(models_dir, trained_tiny):
    _, folder = trained_tiny
    models_dir.mkdir(parents=True)
    shutil.copytree(folder, models_dir / "tiny")
    (models_dir / ".tiny.tmp-123").mkdir()  # a half-written save is not listed
    infos = list_models()
    assert [i.name for i in infos] == ["tiny"]
    info = infos[0]
    assert info.task == "classification" and info.classes == ["negative", "positive"]
    assert "macro_f1" in info.headline
    model = load_model("tiny")
    assert list(model.predict(["great"])) in (["positive"], ["negative"])
    with zipfile.ZipFile(io.BytesIO(zip_model("tiny"))) as archive:
        assert "tiny/model.safetensors" in archive.namelist()
    delete_model("tiny")
    assert list_models() == []
    with pytest.raises(ValueError, match="No saved model"):
        load_model("tiny")


def test_delete_refuses_traversal(models_dir):
    with pytest.raises(ValueError, match="not allowed"):
        delete_model("../models")
