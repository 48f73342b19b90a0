"""Head scores: one tidy table, one row per head.

Every scorer returns a :class:`HeadScores`: a pandas table with columns
``layer, head, score, rank, method, model, language, n_examples, seed`` (rank 1 =
highest score) plus the metadata that made it (config, versions) in ``meta``. The
``[n_layers, n_heads]`` tensor view is what heatmaps and selection read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor

from circuitlab.errors import UserError
from circuitlab.heads import Head, HeadSet

COLUMNS = ["layer", "head", "score", "rank", "method", "model", "language", "n_examples", "seed"]


@dataclass
class HeadScores:
    """A score for every (layer, head) of one model, with how it was computed."""

    table: pd.DataFrame
    meta: dict = field(default_factory=dict)

    @classmethod
    def from_tensor(
        cls, scores: Float[Tensor, "n_layers n_heads"], *, method: str, model: str, language: str,
        n_examples: int, seed: int, meta: dict | None = None, **extra_columns,
    ) -> "HeadScores":
        n_layers, n_heads = scores.shape
        rows = [
            {"layer": l, "head": h, "score": float(scores[l, h])} for l in range(n_layers) for h in range(n_heads)
        ]
        df = pd.DataFrame(rows)
        # NaN (a head that cannot reach the target) ranks last.
        df["rank"] = df["score"].rank(ascending=False, method="first", na_option="bottom").astype(int)
        df["method"], df["model"], df["language"] = method, model, language
        df["n_examples"], df["seed"] = n_examples, seed
        for k, v in extra_columns.items():
            df[k] = v
        return cls(df, dict(meta or {}))

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.table["layer"].max()) + 1, int(self.table["head"].max()) + 1

    def to_tensor(self) -> Float[Tensor, "n_layers n_heads"]:
        out = torch.full(self.shape, float("nan"))
        layers = torch.as_tensor(self.table["layer"].to_numpy(copy=True), dtype=torch.long)
        heads = torch.as_tensor(self.table["head"].to_numpy(copy=True), dtype=torch.long)
        out[layers, heads] = torch.tensor(self.table["score"].to_numpy(dtype="float64", copy=True), dtype=torch.float32)
        return out

    def top(self, n: int = 10) -> pd.DataFrame:
        return self.table.sort_values("rank").head(n)

    def heads(self) -> list[Head]:
        return [Head(int(l), int(h)) for l, h in zip(self.table["layer"], self.table["head"])]

    def save(self, path: str | Path) -> Path:
        """Write ``.csv`` or ``.parquet`` (by suffix) plus ``<path>.meta.json``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".parquet":
            self.table.to_parquet(path, index=False)
        else:
            self.table.to_csv(path, index=False)
        Path(str(path) + ".meta.json").write_text(json.dumps(self.meta, indent=2, default=str))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "HeadScores":
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"No head-score table at {path}; produce one with `circuitlab discover`.")
        df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        missing = [c for c in ("layer", "head", "score") if c not in df.columns]
        if missing:
            raise UserError(f"{path} is not a head-score table: missing columns {missing} (found {list(df.columns)}).")
        meta_path = Path(str(path) + ".meta.json")
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        return cls(df, meta)

    def select(self, k: int | float, how: str = "top", seed: int = 0, exclude: HeadSet | None = None) -> HeadSet:
        """Shortcut for :func:`circuitlab.discovery.selection.select_heads`."""
        from circuitlab.discovery.selection import select_heads

        return select_heads(self, k, how=how, seed=seed, exclude=exclude)
