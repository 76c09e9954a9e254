"""Tests for core.words: the one CJK range, language detection and distinctive words."""

from __future__ import annotations

import logging
import re
import stat

from core.base_models import language_mix
from core.reading import decode_report
from core.words import (
    UNSPACED_RANGES,
    _zh_analyzer,
    chinese_words,
    cjk_share,
    counted,
    detect_language,
    distinctive_words,
    is_cjk,
    rows_words,
)


def test_one_cjk_range_for_every_detector():
    """Kana and Hangul are CJK letters for the training check, the base-model check and the
    dashboard alike (data.cjk_share used to miss kana and Hangul; the dashboard missed kana)."""
    japanese, korean = ["これはとても良い商品です"] * 3, ["이 제품은 정말 좋아요"] * 3
    assert all(is_cjk(ch) for ch in "中文かなカナ한국어")
    assert not any(is_cjk(ch) for ch in "abcé，ｇ1")  # nor full-width Latin and its punctuation
    assert cjk_share(["好。"]) == 1.0  # "。" is in the block but no letter: only letters count
    assert cjk_share(japanese) == 1.0 and cjk_share(korean) == 1.0
    assert language_mix(japanese).cjk == 1.0 and language_mix(korean).cjk_letters == 1.0
    assert detect_language(japanese) == "zh" and detect_language(korean) == "zh"


def test_gb18030_still_recognised_by_its_punctuation_and_letters():
    raw = "评论，很好！质量不错。".encode("gb18030")
    assert decode_report(raw).encoding == "gb18030"


def test_distinctive_words_english():
    pos = ["I love this dress, great fit", "great colour and love the fabric",
           "love love love, great price", "beautiful and great quality"] * 5
    neg = ["poor quality, returned it", "the seams ripped, poor stitching, returned",
           "returned because the fabric was poor", "cheap and poor, disappointed"] * 5
    words = distinctive_words(pos + neg, ["positive"] * 20 + ["negative"] * 20, top_n=5)
    assert set(words) == {"positive", "negative"}
    assert {"love", "great"} <= set(words["positive"]["word"])
    assert {"poor", "returned"} <= set(words["negative"]["word"])
    assert "the" not in set(words["negative"]["word"])  # stop word
    assert (words["positive"]["z_score"].diff().dropna() <= 0).all()  # sorted
    assert words["positive"].set_index("word").loc["love", "count"] == 25
    assert words["positive"].attrs["language"] == "en"


def test_distinctive_words_chinese_words():
    pos = ["质量很好。非常满意", "物流很快。很满意", "满意。下次还来", "宝贝很好。满意"] * 5
    neg = ["太失望了。质量很差", "很失望。差评", "包装破损。失望", "质量差。退货"] * 5
    assert detect_language(pos + neg) == "zh"
    words = distinctive_words(pos + neg, ["好"] * 20 + ["差"] * 20, top_n=5)
    assert words["好"].attrs["language"] == "zh"
    assert "满意" in set(words["好"]["word"])
    assert {"失望", "差评"} <= set(words["差"]["word"])
    # Words, not the pairs that straddle two words (character bigrams gave "常满", "包装破" -> "装破").
    every = set(words["好"]["word"]) | set(words["差"]["word"])
    assert not every & {"常满", "装破", "意下", "望质"}


# Sentences whose words any reader of Chinese knows: (sentence, its words in order, function words
# such as 我/的/了 included). Segmentation is jieba's; these are the cuts a dictionary gives.
KNOWN_WORDS = [
    ("非常好", ["非常", "好"]),
    ("我知道不好", ["我", "知道", "不好"]),
    ("房间干净，早餐不错", ["房间", "干净", "早餐", "不错"]),
    ("服务员很热情", ["服务员", "很", "热情"]),
]


def test_chinese_runs_are_cut_into_words_by_jieba():
    for sentence, known in KNOWN_WORDS:
        got = [w for run in re.findall(f"[{UNSPACED_RANGES}]+", sentence) for w in chinese_words(run)]
        assert got == known, sentence
    tokens = _zh_analyzer("非常好，我知道这家酒店的wifi不好")
    assert {"非常", "好", "知道", "酒店", "不好", "wifi"} <= set(tokens)
    assert not {"常好", "道不", "道这"} & set(tokens)  # the cut-up bigrams
    assert not {"我", "的"} & set(tokens)  # function words carry no meaning
    assert chinese_words("東京に行きました")[:2] == ["東京", "京に"]  # Japanese (kana): bigrams, as before


def test_jieba_starts_once_on_first_use_quietly_with_a_private_cache(tmp_path, monkeypatch, caplog):
    import core.words as words

    monkeypatch.setattr(words, "_SEGMENTER", None)  # as in a fresh process
    monkeypatch.setenv("MARKETUNE_CACHE", str(tmp_path))
    caplog.set_level(logging.DEBUG)
    first = words.chinese_segmenter()
    assert words.chinese_segmenter() is first  # built once
    assert not [r for r in caplog.records if r.name.startswith("jieba")]  # "Building prefix dict..." not logged
    cache = tmp_path / "jieba" / "jieba.cache"  # not the shared /tmp/jieba.cache, which jieba would trust
    assert cache.is_file() and stat.S_IMODE(cache.parent.stat().st_mode) == 0o700
    assert first.lcut("非常好") == ["非常", "好"]


def test_distinctive_words_samples_but_keeps_every_label():
    texts = ["common words here"] * 3000 + ["rare gem sparkle"] * 30
    labels = ["big"] * 3000 + ["small"] * 30
    words = distinctive_words(texts, labels, max_texts=500)
    assert words["small"].attrs["n_texts"] == 30  # rare label keeps all its texts
    assert words["big"].attrs["n_texts"] == 470
    assert "sparkle" in set(words["small"]["word"])


def test_rows_words_says_one_row_in_the_singular():
    assert [rows_words(n) for n in (0, 1, 2, 1234)] == ["0 rows", "1 row", "2 rows", "1,234 rows"]
    assert rows_words(1, "test") == "1 test row" and rows_words(20, "new labelled") == "20 new labelled rows"
    assert [counted(n, "label") for n in (0, 1, 2, 1234)] == ["0 labels", "1 label", "2 labels", "1,234 labels"]
