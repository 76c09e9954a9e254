"""Near-duplicate texts, found without comparing every pair.

Two texts are near duplicates when the cosine of their character 3-5-gram TF-IDF vectors
(:func:`char_vectors`, over the duplicate keys of :func:`core.data.normalise_for_duplicates`) is
at least :data:`NEAR_DUPLICATE_COSINE`: the same sentence with a word or an emoji added or
changed. The data-health check lists them (core/check.py) and training keeps each group of them
in one split (core.data.duplicate_groups), so both use :func:`similar_pairs`.

Comparing every pair costs n^2 (10^10 products for 100,000 rows). :func:`similar_pairs` uses
*prefix filtering* (Bayardo, Ma and Srikant, "Scaling up all pairs similarity search", WWW 2007)
instead: order the features rarest first and call a row's *prefix* its rarest features up to the
point where the rest of the row has norm < t. Two rows with cosine >= t share a feature that is in
both prefixes: take their rarest shared feature f; if f lies past x's prefix, every shared feature
does, so cos(x, y) <= |rest of x| * |y| < t (and the same for y). Rare features have short posting
lists, so the rows sharing a prefix feature (one sparse product per block of rows) are few.
Comparing all of those candidates exactly finds exactly the pairs a full comparison finds
(``max_candidates=None``; tests/test_duplicates.py checks it against one); by default each row's
:data:`MAX_CANDIDATES` candidates sharing the most prefix weight are compared, which found every
pair on the data measured at a sixth of the cost.

Nothing here imports Streamlit; scikit-learn and SciPy are imported when first used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# Character 3-5-gram TF-IDF cosine (of the normalised texts) at or above which two texts count as
# near-duplicates. Measured on the 3,000 UCI sentiment sentences (bench/bench_check.py --near):
# the 13 pairs at >= 0.9 are one sentence with a word added ("great phone!" / "this is a great
# phone!", "very disappointing." / "disappointing."); 0.8-0.9 already holds opposites such as
# "bad quality." / "good quality." (0.82), which must stay apart.
NEAR_DUPLICATE_COSINE = 0.9
# Characters of each text read: a near copy shares its first thousands of characters with the
# original, and the cap bounds the vector of one row (a 150,000-character cell would otherwise
# give ~400,000 n-grams on its own).
MAX_CHARS = 2000
# Hash buckets for the n-grams (columns not used are dropped afterwards): ~1M distinct n-grams in
# 100,000 reviews, so 4M buckets keep collisions rare without a vocabulary dict in memory.
HASH_FEATURES = 2**22
VECTOR_BLOCK_ROWS = 10_000  # rows hashed at a time (bounds the vectorizer's temporary lists)
PAIR_BLOCK_ROWS = 2_000  # rows whose candidate pairs are found with one sparse product
VERIFY_PAIRS = 20_000  # candidate pairs whose exact cosine is computed at a time (~150 MB for reviews)
# Candidates compared exactly per row. On 20,000 clothing reviews plus 1,998 near copies of them
# (a word changed, dropped or an emoji added: bench/bench_near_duplicates.py --planted 0.1) the 10
# best candidates of each row held all 1,985 pairs that comparing every candidate found, in a fifth
# of the time (15.6 s against 81.5 s under load 8); on 3,000 UCI sentences with 300 near copies,
# all 222 pairs.
MAX_CANDIDATES = 10


def char_vectors(texts: list[str]) -> Any:
    """L2-normalised character 3-5-gram TF-IDF vectors (within words, padded by a space;
    lowercased; sublinear tf; smoothed idf), a SciPy CSR matrix of shape (len(texts), v) with
    float32 values and only the v columns some text uses. A text without characters gives a
    zero row. Each text's first :data:`MAX_CHARS` characters are read."""
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer

    hasher = HashingVectorizer(analyzer="char_wb", ngram_range=(3, 5), n_features=HASH_FEATURES,
                               alternate_sign=False, norm=None, lowercase=True, dtype=np.float32)
    clipped = [str(t)[:MAX_CHARS] for t in texts]
    if not clipped:
        return sp.csr_matrix((0, 1), dtype=np.float32)
    blocks = [hasher.transform(clipped[lo : lo + VECTOR_BLOCK_ROWS]) for lo in range(0, len(clipped), VECTOR_BLOCK_ROWS)]
    counts = sp.vstack(blocks, format="csr")
    del blocks
    used = np.unique(counts.indices)  # compact: only the buckets in use become columns
    counts = sp.csr_matrix((counts.data, np.searchsorted(used, counts.indices).astype(counts.indices.dtype),
                            counts.indptr), shape=(counts.shape[0], max(len(used), 1)), copy=False)
    tfidf = TfidfTransformer(sublinear_tf=True).fit(counts)
    return sp.csr_matrix(tfidf.transform(counts, copy=False))


def similar_pairs(
    vectors: Any, threshold: float = NEAR_DUPLICATE_COSINE, *, max_candidates: int | None = MAX_CANDIDATES
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of rows of ``vectors`` (sparse or dense, (n, v), rows L2-normalised, values >= 0, as
    :func:`char_vectors` gives) whose cosine is >= ``threshold`` (0 < threshold <= 1).

    Returns (i, j, cosine): int64 arrays with i < j, sorted by (i, j), and float32 cosines.
    Candidates are the rows sharing a prefix feature (module docstring); each row's
    ``max_candidates`` candidates with the largest dot product over the shared prefix features
    have their exact cosine computed (None: every candidate, which finds exactly the pairs a full
    comparison finds). Time and memory grow with the candidates of one block of
    :data:`PAIR_BLOCK_ROWS` rows, not with n^2. Raises ValueError for a threshold outside (0, 1].
    """
    import scipy.sparse as sp

    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1]; got {threshold}.")
    x = sp.csr_matrix(vectors, dtype=np.float32)
    x.sum_duplicates()
    n = x.shape[0]
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))
    if n < 2 or x.nnz == 0:
        return empty
    # Columns renumbered by rank, rarest feature first (ties by column), and each row's entries
    # sorted that way (in SciPy's C code): a row's prefix is then its first entries.
    doc_freq = np.bincount(x.indices, minlength=x.shape[1])
    rank = np.empty(x.shape[1], dtype=x.indices.dtype)
    rank[np.argsort(doc_freq, kind="stable")] = np.arange(x.shape[1])
    x = sp.csr_matrix((x.data.copy(), rank[x.indices], x.indptr.copy()), shape=x.shape)
    x.has_sorted_indices = False  # the new column numbers are not sorted within rows yet
    x.sort_indices()
    prefix = sp.vstack([_prefix(x[lo : lo + VECTOR_BLOCK_ROWS], threshold) for lo in range(0, n, VECTOR_BLOCK_ROWS)],
                       format="csr")
    prefix_t = prefix.T.tocsr()
    chosen: list[np.ndarray] = []
    for lo in range(0, n, PAIR_BLOCK_ROWS):
        shared = (prefix[lo : lo + PAIR_BLOCK_ROWS] @ prefix_t).tocoo()  # dot over shared prefix features
        i = shared.row.astype(np.int64) + lo
        j = shared.col.astype(np.int64)
        other = i != j
        i, j, score = i[other], j[other], shared.data[other]
        if max_candidates is not None:
            by_row = np.lexsort((-score, i))  # each row's candidates, largest shared weight first
            i, j = i[by_row], j[by_row]
            place = np.arange(len(i)) - np.searchsorted(i, i, side="left")
            i, j = i[place < max_candidates], j[place < max_candidates]
        chosen.append(np.minimum(i, j) * n + np.maximum(i, j))  # one code per unordered pair
    codes = np.unique(np.concatenate(chosen))
    found_i, found_j, found_s = [], [], []
    for start in range(0, len(codes), VERIFY_PAIRS):
        a, b = np.divmod(codes[start : start + VERIFY_PAIRS], n)
        cos = np.asarray(x[a].multiply(x[b]).sum(axis=1), dtype=np.float32).ravel()
        hit = cos >= threshold
        found_i.append(a[hit])
        found_j.append(b[hit])
        found_s.append(cos[hit])
    if not found_i:
        return empty
    return np.concatenate(found_i), np.concatenate(found_j), np.concatenate(found_s)  # codes sorted: (i, j) order


def _prefix(x: Any, threshold: float) -> Any:
    """The prefix entries of the CSR rows ``x`` (each row's entries sorted rarest first): the
    first entries of each row while the squared norm of the entry and all after it is >=
    threshold^2."""
    import scipy.sparse as sp

    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    squares = x.data.astype(np.float64) ** 2
    before = np.concatenate([[0.0], np.cumsum(squares)])
    # Squared norm of each entry and every entry after it in its row (the "rest" from here on).
    rest = before[x.indptr[1:]][rows] - before[:-1]
    # An entry is in the prefix while the rest from it on still reaches the threshold; the small
    # margin keeps float rounding from ever dropping an entry that belongs.
    keep = rest >= threshold**2 * (1 - 1e-5)
    return sp.csr_matrix((x.data[keep], (rows[keep], x.indices[keep])), shape=x.shape)


def components(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Connected components of the graph on ``n`` nodes with edges (i, j): (n,) int component
    ids, numbered in order of each component's first node (node 0 is in component 0)."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    graph = sp.coo_matrix((np.ones(len(i), np.int8), (np.asarray(i), np.asarray(j))), shape=(n, n))
    return _renumber(connected_components(graph, directed=False)[1])


@dataclass(frozen=True)
class NearDuplicateGroups:
    """What :func:`near_duplicate_groups` found, per row and per distinct key.

    ``group``: (n,) int ids, equal for rows with the same key and for rows whose keys are near
    duplicates (transitively), numbered in order of each group's first row. ``best``: (n,)
    float32, each row's highest cosine to a *different* key of its group (0 where none).
    ``codes``: (n,) position of each row's key among the distinct keys (in order of first
    appearance); ``key_vectors``: their :func:`char_vectors`, (n_keys, v), so ``key_vectors[codes]``
    are the rows' vectors.
    """

    group: np.ndarray
    best: np.ndarray
    codes: np.ndarray
    key_vectors: Any

    @property
    def joined(self) -> np.ndarray:
        """(n,) bool: rows in a group of more than one distinct key (near copies). Every such
        row's key has a near-duplicate pair, so these are the rows with ``best > 0``."""
        return self.best > 0


def near_duplicate_groups(keys: list[str], threshold: float = NEAR_DUPLICATE_COSINE) -> NearDuplicateGroups:
    """Group the rows whose duplicate ``keys`` (core.data.normalise_for_duplicates, one per row;
    "" for a row without text, never joined to another key) are equal or near duplicates,
    comparing each distinct key once (:func:`similar_pairs`)."""
    import pandas as pd

    codes, uniques = pd.factorize(pd.Series(list(keys), dtype=object), sort=False)
    texts = [str(u) for u in uniques]
    vectors = char_vectors(texts)
    best_key = np.zeros(len(texts), dtype=np.float32)
    i, j, sims = similar_pairs(vectors, threshold)
    np.maximum.at(best_key, i, sims)
    np.maximum.at(best_key, j, sims)
    key_group = components(len(texts), i, j)
    group = key_group[codes]
    return NearDuplicateGroups(_renumber(group), best_key[codes], codes, vectors)


def _renumber(labels: np.ndarray) -> np.ndarray:
    """Ids renumbered 0, 1, ... in order of first appearance."""
    if not len(labels):
        return labels.astype(np.int64)
    found, first = np.unique(labels, return_index=True)
    renumber = np.empty(int(found.max()) + 1, dtype=np.int64)
    renumber[found[np.argsort(first)]] = np.arange(len(found))
    return renumber[labels]
