"""Ad Copy Lab renderers for pages/ad_lab.py: the three tabs, HTML shading of word
attributions, and cached scoring.

``attribution_html`` and ``top_words`` are pure (every piece of user text is escaped). The
``cached_*`` functions wrap ``core.adlab`` in ``st.cache_data`` keyed by the model's name and
the time it was saved, so the page's reruns (every click) do not re-run the model on inputs it
has already scored.

The variant table lives in session state (``adlab_rows``); ``st.data_editor`` keeps its own
pending edits under its key (``adlab_variants``). Rows added from outside the editor (pasted
lines, a CSV, "keep as new variant") go through callbacks that rebuild the table from what the
editor last showed and drop the editor's now-stale edits.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from core import adlab
from core.charts.adlab import attribution_bar_chart, targeting_heatmap, variants_bar_chart
from core.drafts import load_draft, save_draft
from core.language_check import language_warning
from core.models.folder import stamp
from core.models.zeroshot import unchecked_scores_note
from core.registry import model_path
from core.words import rows_words
from ui.downloads import csv_download
from ui.figures import inert
from ui.markdown import plain
from ui.rewrites import render_suggestions
from ui.state import get_model
from ui.upload import table_upload

POSITIVE_RGB = (44, 160, 44)  # green: the word pushes the score up
NEGATIVE_RGB = (214, 39, 40)  # red: the word pulls the score down
ROWS, CURRENT, EDITOR = "adlab_rows", "adlab_current", "adlab_variants"
BASE = "adlab_base"  # the base copy's text box
DRAFT_PAGE, DRAFT_SAVED = "ad_lab", "adlab_draft_saved"  # core.drafts' page name; (base, variants) last kept
LOG = logging.getLogger("marketune.pages")
TEXTS = "adlab_texts"  # variant name -> text, as last scored (for the other tabs)
EDIT_SOURCE = "adlab_edit_source"  # (variant name, its text) the explain draft started from
MAX_VARIANTS = 100
EXAMPLE_BASE = "Our softest summer dress: flattering fit, true to size."
EXAMPLE_VARIANTS = [
    "Love this dress! Soft, flattering and fits perfectly.",
    "Summer dress in soft cotton. Runs small, order a size up.",
    "The dress everyone asks about: comfortable, flattering, great value.",
]
SAMPLE_NOTE = (
    "The sample file `sample_data/ad_response_clothing.csv` is real customer **review** data "
    "(Women's E-Commerce Clothing Reviews, CC0): the review text stands in for ad copy and "
    "*recommended* (1/0) stands in for the response. It is not ad-click data, so use it to try "
    "the page, not to judge real ads. To try it: on **Train**, pick that file, text column "
    "`review`, profile columns `age` and `department`, label `recommended`."
)


@dataclass(frozen=True)
class Lab:
    """What every tab needs: the model and the choices made at the top of the page."""

    name: str  # registry name of the model
    model: Any
    text_column: str  # the model column the ad copy goes into
    success: str | None  # the positive class, the outcome that counts as success (None: regression)
    score_label: str  # e.g. "P(clicked = yes)" or "predicted ctr"
    profile: dict[str, Any]  # profile values for what-if scoring and explanations
    margin: adlab.Margin

    @property
    def probability(self) -> bool:
        return self.model.task == "classification"

    @property
    def features(self) -> list[str]:
        return adlab.profile_columns(self.model)

    def fmt(self, value: float, signed: bool = False) -> str:
        """A score (or a change of score when ``signed``) as people read it."""
        if self.probability:
            if signed:  # small changes keep a second decimal rather than showing "+0.0"
                return f"{value * 100:+.{1 if abs(value) >= 0.001 else 2}f} pts"
            return f"{value:.1%}"
        return f"{value:+.4g}" if signed else f"{value:.4g}"


# --------------------------------------------------------------------------- pure renderers


def attribution_html(
    text: str, explanation: pd.DataFrame, scale: float | None = None, *, probability: bool = True
) -> str:
    """``text`` as HTML with each unit shaded by its attribution.

    Green for positive, red for negative; the opacity grows with |attribution| / ``scale``
    (default: the largest |attribution| in ``explanation``). Each shaded span has a tooltip
    with its value. Text between units (spaces, line breaks) is kept; everything is escaped.
    """
    values = explanation["attribution"].abs()
    if not scale or scale <= 0:
        scale = float(values.max()) if len(values) and values.max() > 0 else 1.0
    parts, pos = [], 0
    for start, end, value in explanation[["start", "end", "attribution"]].itertuples(index=False):
        parts.append(html.escape(text[pos:start]))
        alpha = min(1.0, abs(float(value)) / scale) * 0.75
        r, g, b = POSITIVE_RGB if value > 0 else NEGATIVE_RGB
        shown = f"{value * 100:+.2f} points" if probability else f"{value:+.4g}"
        parts.append(
            f'<span style="background-color: rgba({r},{g},{b},{alpha:.3f}); border-radius: 3px; '
            f'padding: 1px 2px;" title="{html.escape(shown)}">{html.escape(text[start:end])}</span>'
        )
        pos = end
    parts.append(html.escape(text[pos:]))
    body = "".join(parts).replace("\n", "<br>")
    return (
        f'<div class="adlab-attribution" style="line-height: 2; font-size: 1.05rem;">{body}</div>'
    )


def top_words(
    explanation: pd.DataFrame, k: int = 5, min_share: float = 0.01
) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """(the k words pushing the score up most, the k pulling it down most) as (word, value).
    Words moving the score by less than ``min_share`` of the largest move are left out."""
    # Punctuation and symbol runs ("!!!", ",") are shaded in the text but are not words.
    explanation = explanation[explanation["word"].map(adlab.is_word)] if len(explanation) else explanation
    a = explanation["attribution"]
    floor = float(a.abs().max()) * min_share if len(a) else 0.0
    up = explanation[a > floor].nlargest(k, "attribution")
    down = explanation[a < -floor].nsmallest(k, "attribution")
    return (
        [(w, float(v)) for w, v in zip(up["word"], up["attribution"])],
        [(w, float(v)) for w, v in zip(down["word"], down["attribution"])],
    )


# --------------------------------------------------------------------------- cached core calls


def _stamp(name: str) -> tuple[str, float]:
    """The model's folder and when it was last saved (part of every cache key): the folder, as
    two people's models may share a name on a team server and the caches serve every session."""
    folder = model_path(name)
    return str(folder), stamp(folder)


def _items(profile: dict[str, Any] | None) -> tuple:
    return tuple(sorted((profile or {}).items()))


@st.cache_data(show_spinner=False, max_entries=64)
def _score(name, stamp, base, variants, success, profile, text_column) -> pd.DataFrame:
    model = get_model(name)
    return adlab.score_variants(
        model, base, list(variants), success, dict(profile) or None, text_column=text_column
    )


@st.cache_data(show_spinner=False, max_entries=64)
def _unlike(name, stamp, texts, profile, text_column) -> list[bool] | None:
    flags = adlab.unlike_training(get_model(name), list(texts), dict(profile), text_column=text_column,
                                  folder=str(model_path(name)))
    return None if flags is None else [bool(f) for f in flags]


@st.cache_data(show_spinner=False, max_entries=64)
def _language_warning(name, stamp, texts) -> str | None:
    return language_warning(model_path(name), list(texts))


def render_unlike_training(lab: Lab, scored: pd.DataFrame) -> None:
    """A warning naming the texts that look unlike the model's training texts (another language,
    another kind of text): their scores say little. Nothing when all look alike or the model has
    no reference. A reference that cannot be built (its encoder will not load) is logged, not shown."""
    if language := _language_warning(lab.name, _stamp(lab.name), tuple(scored["text"])):  # base copy and variants
        st.warning(plain(language), icon=":material/translate:")
    try:
        flags = _unlike(lab.name, _stamp(lab.name), tuple(scored["text"]), _items(lab.profile), lab.text_column)
    except (ValueError, OSError):
        LOG.warning("Ad Copy Lab: no out-of-distribution check for %s", lab.name, exc_info=True)
        return
    if not flags or not any(flags):
        return
    names = scored["variant"][flags].tolist()
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    st.warning(
        f"{len(names)} of {len(scored)} texts ({plain(shown)}) look unlike the texts **{plain(lab.name)}** was trained on, "
        "for example another language or another kind of text: the model's scores for them are less "
        "trustworthy. The Predict page flags such rows the same way.",
        icon=":material/travel_explore:",
    )


def cached_score(lab: Lab, base: str, variants: Sequence[str]) -> pd.DataFrame:
    """``core.adlab.score_variants`` for the lab's model and choices, cached."""
    return _score(
        lab.name,
        _stamp(lab.name),
        base,
        tuple(variants),
        lab.success,
        _items(lab.profile),
        lab.text_column,
    )


@st.cache_data(show_spinner=False, max_entries=64)
def _explain(name, stamp, text, success, profile, text_column) -> pd.DataFrame:
    model = get_model(name)
    return adlab.explain(model, text, success, dict(profile) or None, text_column=text_column)


def cached_explain(lab: Lab, text: str) -> pd.DataFrame:
    """``core.adlab.explain`` for the lab's model and choices, cached."""
    return _explain(
        lab.name, _stamp(lab.name), text, lab.success, _items(lab.profile), lab.text_column
    )


@st.cache_data(show_spinner=False, max_entries=16)
def _matrix(name, stamp, ads, segments, success, text_column) -> pd.DataFrame:
    model = get_model(name)
    return adlab.targeting_matrix(model, dict(ads), segments, success, text_column=text_column)


def cached_matrix(lab: Lab, ads: dict[str, str], segments: pd.DataFrame) -> pd.DataFrame:
    """``core.adlab.targeting_matrix`` for the lab's model and choices, cached."""
    return _matrix(
        lab.name, _stamp(lab.name), tuple(ads.items()), segments, lab.success, lab.text_column
    )


# --------------------------------------------------------------------------- variant table state


def _clean(texts) -> list[str]:
    """Non-empty, stripped, first occurrence kept, at most MAX_VARIANTS."""
    out = [str(t).strip() for t in texts if isinstance(t, str) and t.strip()]
    return list(dict.fromkeys(out))[:MAX_VARIANTS]


def current_texts() -> list[str]:
    """The variant texts as the editor last showed them (edits applied)."""
    ss = st.session_state
    table = ss.get(CURRENT)
    if table is None:
        table = ss[ROWS]
    return _clean(table["text"].tolist()) if "text" in table.columns else []


def set_rows(texts: list[str]) -> None:
    ss = st.session_state
    ss[ROWS] = pd.DataFrame({"text": _clean(texts)}, dtype=object)
    ss.pop(EDITOR, None)  # the editor's pending edits referred to the old rows
    ss.pop(CURRENT, None)


def add_texts(texts: list[str]) -> None:
    set_rows(current_texts() + list(texts))


def _add_pasted() -> None:
    add_texts(st.session_state.get("adlab_paste", "").splitlines())
    st.session_state["adlab_paste"] = ""


def _keep_edit() -> None:
    add_texts([st.session_state.get("adlab_edit", "")])


# --------------------------------------------------------------------------- the draft on disk


def _restore_draft() -> None:
    """On a session's first run of the page: the base copy and variants this person last had
    (core.drafts: on disk in their workspace, so a reload or a second tab finds them, as the
    Train page finds its job), else the examples."""
    ss = st.session_state
    if DRAFT_SAVED in ss:
        # Back from another page, Streamlit has dropped the text box's key (its page was not
        # drawn): the base copy last kept comes back (a newcomer found it empty after a look at
        # the Dashboard while rewrites were written).
        ss.setdefault(BASE, ss[DRAFT_SAVED][0])
        return
    draft = load_draft(DRAFT_PAGE)
    base = draft.get("base") if isinstance(draft.get("base"), str) else EXAMPLE_BASE
    variants = draft.get("variants")
    variants = _clean(variants) if isinstance(variants, list) else list(EXAMPLE_VARIANTS)
    ss.setdefault(BASE, base)
    if ROWS not in ss:
        ss[ROWS] = pd.DataFrame({"text": variants}, dtype=object)
    ss[DRAFT_SAVED] = (base, tuple(variants))


def _keep_draft(base: str, variants: list[str]) -> None:
    """Write the base copy and variants to this person's draft when they changed."""
    ss = st.session_state
    if ss.get(DRAFT_SAVED) == (base, tuple(variants)):
        return
    try:
        save_draft(DRAFT_PAGE, {"base": base, "variants": variants})
    except (OSError, ValueError) as exc:  # the page works on; only the next visit starts afresh
        LOG.warning("Ad Copy Lab could not keep its draft: %s", exc)
        st.caption(f"These texts could not be kept for your next visit: {plain(exc)}")
    ss[DRAFT_SAVED] = (base, tuple(variants))


# --------------------------------------------------------------------------- tab: what-if scoring


def _variant_inputs() -> None:
    """The variants editor, the paste box and the CSV upload."""
    ss = st.session_state
    if ROWS not in ss:
        ss[ROWS] = pd.DataFrame({"text": EXAMPLE_VARIANTS}, dtype=object)
    st.markdown("**Variants**: edit the table, add rows at the bottom, or paste/upload many.")
    ss[CURRENT] = st.data_editor(
        ss[ROWS],
        key=EDITOR,
        num_rows="dynamic",
        hide_index=True,
        placeholder="",  # a new, empty row shows empty, not "None"
        width="stretch",
        column_config={"text": st.column_config.TextColumn("Variant text", width="large")},
    )
    with st.expander("Paste many variants, or upload a CSV"):
        st.text_area("One variant per line", key="adlab_paste", height=120)
        st.button("Add these lines", key="adlab_add_lines", on_click=_add_pasted)
        upload = table_upload("CSV or Excel file of variants", key="adlab_csv")
        if upload is not None:
            frame = upload.frame
            text_like = [c for c in frame.columns if frame[c].dtype == object]
            column = st.selectbox(
                "Column with the ad text",
                text_like or list(frame.columns),
                key="adlab_csv_column",
            )
            st.button(
                f"Add {min(len(frame), MAX_VARIANTS)} variants from the CSV",
                key="adlab_add_csv",
                on_click=add_texts,
                args=(frame[column].dropna().astype(str).tolist(),),
            )
        st.button("Remove all variants", key="adlab_clear", on_click=set_rows, args=([],))


def render_scoring(lab: Lab) -> pd.DataFrame | None:
    """Base copy + variants in, sorted table, bar chart and CSV export out. Returns the
    scored table (``core.adlab.score_variants``) or None when nothing could be scored."""
    _restore_draft()
    if note := unchecked_scores_note(lab.model):  # typed variants and suggested rewrites alike
        st.info(plain(note), icon=":material/label_off:")
    base = st.text_area("Base ad copy (what you run today)", key=BASE, height=80)
    _variant_inputs()
    _keep_draft(base, current_texts())
    render_suggestions(lab, base, add_texts)  # ui/rewrites.py: "Suggest rewrites", a background job
    try:
        scored = cached_score(lab, base, current_texts())
    except ValueError as exc:
        st.error(plain(exc))
        st.session_state.pop(TEXTS, None)
        return None
    st.session_state[TEXTS] = dict(zip(scored["variant"], scored["text"]))
    render_unlike_training(lab, scored)
    margin = lab.margin
    if margin.value is None:
        st.warning(plain(margin.note) + " So no variant is called better or worse: the table says only whether it "
                   "scores higher or lower than the base, and a small difference may be noise.")
    else:
        st.caption(f"Model uncertainty: ±{lab.fmt(margin.value)}. {plain(margin.note)}")
    unclear = int(scored["no_clear_difference"].sum())
    if unclear:
        st.info(
            f"{unclear} of {len(scored) - 1} variants score within the model's uncertainty of the "
            "base: **no clear difference**, the model cannot say they are better or worse."
        )
    number = st.column_config.NumberColumn
    shown = scored[["rank", "variant", "text", "score", "delta", "verdict"]]
    if lab.probability:  # a change of a probability is in percentage points, not "%"
        shown = shown.assign(delta=shown["delta"] * 100)
    st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        column_config={
            "rank": number(
                "rank",
                help="1 + the number of texts that score clearly higher (by at least the model's "
                "uncertainty): texts the model cannot tell apart share a rank.",
            ),
            "score": number(lab.score_label, format="percent" if lab.probability else "%.4g"),
            "delta": number(
                "change vs base", format="%+.1f pts" if lab.probability else "%+.4g",
                help="Score minus the base's score" + (", in percentage points." if lab.probability else "."),
            ),
            "text": st.column_config.TextColumn("text", width="large"),
        },
    )
    chart = variants_bar_chart(
        scored, margin.value, probability=lab.probability, score_label=lab.score_label
    )
    st.plotly_chart(inert(chart), key="adlab_bar")
    export = scored.drop(columns=["is_base"]).assign(model=lab.name, score_meaning=lab.score_label)
    csv_download("Download variants with scores (CSV)", export, file_name="ad_variants_scored.csv", key="adlab_dl_variants")
    return scored


# --------------------------------------------------------------------------- tab: explain & edit


def render_explain(lab: Lab, scored: pd.DataFrame | None) -> None:
    """Pick a variant, edit it, see its score and word attributions; keep it as a new variant."""
    ss = st.session_state
    texts = ss.get(TEXTS, {})
    if scored is None or not texts:
        st.info("Score some ad copy first (first tab).")
        return
    if ss.get("adlab_explain_pick") not in texts:
        ss["adlab_explain_pick"] = next(iter(texts))  # the picked variant is gone: the base
    pick = st.selectbox(
        "Variant to explain and edit",
        list(texts),
        key="adlab_explain_pick",
        format_func=lambda v: f"{v}: {texts[v][:70]}",
    )
    # The draft belongs to one (variant, text) pair. When the pick changes, or the variants
    # are replaced so that the same name now holds another text, the draft starts again from
    # that text; while the pair stays the same the user's edits are kept. (Set here, before
    # the text area exists in this run, rather than in an on_change callback, which does not
    # fire when only the texts behind the names change.)
    source = (pick, texts[pick])
    if ss.get(EDIT_SOURCE) != source or "adlab_edit" not in ss:
        ss["adlab_edit"] = texts[pick]
        ss[EDIT_SOURCE] = source
    draft = st.text_area("Edit the text; score and shading follow", key="adlab_edit", height=90)
    st.caption(f"Method: {adlab.ATTRIBUTION_METHOD}")
    if not draft.strip():
        return
    try:
        expl = cached_explain(lab, draft)
    except ValueError as exc:
        st.error(plain(exc))
        return
    original = float(scored.loc[scored["variant"] == pick, "score"].iloc[0])
    score = expl.attrs["score"]
    left, right = st.columns([1, 3])
    with left:
        st.metric(
            plain(lab.score_label),
            lab.fmt(score),
            delta=None if draft == texts[pick] else lab.fmt(score - original, signed=True),
            help=f"Change against {plain(pick)} as scored in the first tab.",
        )
        st.button(
            "Keep as new variant",
            key="adlab_keep",
            on_click=_keep_edit,
            disabled=draft.strip() in texts.values(),
            help="This text is a variant already: edit it above to keep a new one."
            if draft.strip() in texts.values() else None,
        )
    with right:
        shaded = attribution_html(draft, expl, probability=lab.probability)
        st.markdown(shaded, unsafe_allow_html=True)
        st.caption("Green words push the score up, red words pull it down; hover for the value.")
    up, down = top_words(expl)
    left, right = st.columns(2)
    for column, title, words in ((left, "Pushes the score up", up), (right, "Pulls it down", down)):
        listed = "  \n".join(f"{plain(w)} ({lab.fmt(v, signed=True)})" for w, v in words) or "none"
        column.markdown(f"**{title}**  \n{listed}")
    chart = attribution_bar_chart(expl, probability=lab.probability)
    st.plotly_chart(inert(chart), key="adlab_attr_chart")


# --------------------------------------------------------------------------- tab: targeting


def _audience_segments(lab: Lab) -> pd.DataFrame | None:
    """Segments from the model's test rows or an uploaded CSV (customers or segments)."""
    features = lab.features
    source = st.radio(
        "Audience segments from",
        ["the model's test data", "an audience CSV I upload"],
        key="adlab_seg_source",
        horizontal=True,
    )
    people = None
    if source == "the model's test data":
        people = adlab.profile_frame_from_test(lab.model)
        if people.empty:
            st.warning(
                "The model's saved test rows hold no profile values to build segments from; "
                "upload an audience CSV instead."
            )
            return None
        st.caption(f"Segment sizes are counts among the model's {rows_words(len(people), 'test')}.")
    else:
        audience = table_upload(
            "Audience CSV or Excel file: one row per customer, or one row per segment with a `size` column",
            key="adlab_audience",
        )
        if audience is None:
            return None
        frame = audience.frame
        if not any(c in frame.columns for c in features):
            st.error(
                f"The file has none of the model's profile columns {plain(features)}; "
                f"found {plain(list(frame.columns))}."
            )
            return None
        size_col = next((c for c in frame.columns if c.strip().lower() == "size"), None)
        if size_col:
            st.caption(f"{len(frame)} segments read from the file (one per row, sized by `size`).")
            return frame.rename(columns={size_col: "size"})
        people = frame
        st.caption(f"{len(frame):,} customers read; segment sizes are customer counts.")
    present = [c for c in features if c in people.columns]
    left, right = st.columns([3, 1])
    chosen = left.multiselect("Segment by", present, default=present, key="adlab_seg_columns")
    bins = right.number_input("Bins per numeric column", 2, 10, 4, key="adlab_seg_bins")
    if not chosen:
        st.info("Choose at least one profile column to segment by.")
        return None
    held = [c for c in present if c not in chosen]
    try:
        segments = adlab.segments_from_profile(people, chosen, int(bins), fixed_columns=held)
    except ValueError as exc:
        st.error(plain(exc))
        return None
    if held:
        values = ", ".join(f"{c} = {segments[c].iloc[0]}" for c in held)
        st.caption(f"Held at their typical value: {plain(values)}.")
    covered, total = segments.attrs.get("n_covered", 0), segments.attrs.get("n_people", 0)
    if covered < total:
        st.caption(
            f"The segments cover {covered:,} of {total:,} people; the rest have an empty or rare "
            "value in a segment column."
        )
    return segments


def render_targeting(lab: Lab, scored: pd.DataFrame | None) -> None:
    """Segments x ads heatmap, best ad per segment, uplift of targeting, CSV downloads."""
    if not lab.features:
        st.info(
            f"The model **{plain(lab.name)}** reads the ad text only (no profile columns), so it predicts "
            "the same response for every audience and cannot compare segments. Targeting needs a "
            "model trained with profile columns plus ad text, for example the sample "
            "`ad_response_clothing.csv` with `age` and `department` as profile columns."
        )
        return
    texts = st.session_state.get(TEXTS, {})
    if scored is None or not texts:
        st.info("Score some ad copy first (first tab): its variants are the ads compared here.")
        return
    st.caption(
        "Each segment is scored as one typical member (its category, or the median of a numeric "
        "bin) with each ad."
    )
    segments = _audience_segments(lab)
    if segments is None:
        return
    missing = [c for c in lab.features if c not in segments.columns]
    if missing:
        st.warning(f"Profile column(s) {plain(missing)} are not in the segments; the model sees no value.")
    ads = sorted(texts, key=_ad_order)
    names = st.multiselect("Ads to compare", ads, default=ads, key="adlab_target_ads")
    if not names:
        st.info("Choose at least one ad to compare.")
        return
    segments = segments.reset_index(drop=True)
    try:
        matrix = cached_matrix(lab, {a: texts[a] for a in names}, segments)
        sizes = None
        if "size" in segments.columns:
            sizes = pd.Series(
                pd.to_numeric(segments["size"], errors="coerce").to_numpy(), index=matrix.index
            )
        best = adlab.best_ad_per_segment(matrix, sizes, lab.margin.value)
        uplift = adlab.targeting_uplift(matrix, sizes)
    except ValueError as exc:
        st.error(plain(exc))
        return
    _uplift_metrics(lab, uplift)
    chart = targeting_heatmap(
        matrix, best, probability=lab.probability, score_label=lab.score_label
    )
    st.plotly_chart(inert(chart), key="adlab_heatmap")
    st.dataframe(best, hide_index=True, width="stretch")
    profile_cols = [c for c in segments.columns if c not in ("size", "segment")]
    assignment = best.merge(
        segments[profile_cols].assign(segment=matrix.index.astype(str)), on="segment", how="left"
    )
    assignment["best_ad_text"] = assignment["best_ad"].map(texts)
    matrix_out = matrix.reset_index()
    if sizes is not None:
        matrix_out.insert(1, "size", sizes.to_numpy())
    left, right = st.columns(2)
    csv_download("Download the matrix (CSV)", matrix_out, file_name="targeting_matrix.csv", key="adlab_dl_matrix", where=left)
    csv_download("Download the recommended assignment (CSV)", assignment, file_name="targeting_assignment.csv", key="adlab_dl_assignment", where=right)


def _ad_order(name: str) -> tuple:
    """Base first, then V1, V2, ... in number order (the heatmap's column order)."""
    return (name != "Base", int(name[1:]) if name[1:].isdigit() else 0, name)


def _uplift_metrics(lab: Lab, uplift: dict[str, Any]) -> None:
    left, middle, right = st.columns(3)
    left.metric(
        f"Everyone sees {plain(uplift['single_best_ad'])}", lab.fmt(uplift["single_best_response"])
    )
    middle.metric("Best ad per segment", lab.fmt(uplift["targeted_response"]))
    rel = uplift["relative_uplift"]
    right.metric(
        "Uplift of targeting",
        lab.fmt(uplift["uplift"], signed=True),
        delta=None if rel is None else f"{rel:+.1%} relative",
    )
    if uplift["weighted_by_size"]:
        weighting = f"weighted by segment size ({uplift['total_size']:,.0f} people)"
    else:
        weighting = "each segment counted equally (sizes unknown)"
    note = (
        f"Expected response, {weighting}. {uplift['n_segments_switched']} of "
        f"{uplift['n_segments']} segments do better with another ad than "
        f"{plain(uplift['single_best_ad'])}."
    )
    if lab.margin.value:
        note += (
            f" Gains below the model's uncertainty (±{lab.fmt(lab.margin.value)}) are not reliable."
        )
    st.caption(note)
