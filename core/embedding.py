"""PLACEHOLDER for the frozen-encoder embedding candidate (issue 26), built on branch r3-emb.

There ``core.embedding.fit_embedding(prepared, config, on_progress=None, cancel=None)`` returns an
``EmbeddingClassifier`` fitted on ``prepared.splits["train"]``; core.pipeline's candidate table
runs it second, after TF-IDF. Until that module replaces this file, importing it raises
ImportError and the pipeline skips the candidate, saying so on the leaderboard. (The file exists
so that core's import graph stays acyclic: tests/test_architecture.py reads a missing module
as the package itself.)
"""

raise ImportError("The frozen-encoder embedding candidate (core.embedding) is not part of this build.")
