"""A tiny deterministic backend for testing the sweep machinery (never used by the demo).

Every number is a function of the cell's coordinates (through a stable hash), so
two runs of the same cell give the same row in any process and on any host; the
rows look like real results (accuracies in [0, 1], forgetting, parameter
fractions) so that the report's tables and figures can be exercised too.

Options (``backend_options`` in the spec):

- ``sleep_s``: seconds each cell sleeps (to make a sweep slow enough to interrupt);
- ``stage_sleep_s``: seconds each stage sleeps;
- ``fail``: substrings of cell ids that raise (to test error handling);
- ``fail_if_exists``: a file of such substrings, one a line, read at each cell (delete it and
  the same cells pass: the option's value, hence the cell ids, stay the same);
- ``fail_stages``: substrings of stage ids that raise;
- ``calls_log``: a file that gets one JSON line per stage/cell call (pid, id, kind);
- ``n_layers`` / ``n_heads``: the shape of the fake head-score tables.
"""

from __future__ import annotations

import json
import os
import random
import time
from typing import Any

from circuitlab.experiments.cells import Cell, CellResult, RunContext, Stage, StageOutput
from circuitlab.experiments.spec import stable_hash

METHOD_EFFECT = {"circuit": 0.06, "nearzero": 0.05, "random": 0.02, "least": 0.01, "norms": 0.0, "full": -0.04,
                 "direct": -0.02, "lora": 0.03}
METHOD_FORGETTING = {"full": 0.25, "direct": 0.3, "norms": 0.02}


def _u(*parts: Any) -> float:
    """A uniform number in [0, 1) determined by ``parts``."""
    return int(stable_hash([str(p) for p in parts], 12), 16) / 16**12


class FakeBackend:
    """Deterministic stand-in for the CT-SFT pipeline (see module docstring)."""

    name = "fake"

    def __init__(self, sleep_s: float = 0.0, stage_sleep_s: float = 0.0, fail: list[str] | None = None,
                 fail_if_exists: str | None = None, fail_stages: list[str] | None = None,
                 calls_log: str | None = None, n_layers: int = 6, n_heads: int = 4) -> None:
        self.fail_if_exists = fail_if_exists
        self.fail_stages = list(fail_stages or [])
        self.sleep_s, self.stage_sleep_s = float(sleep_s), float(stage_sleep_s)
        self.fail = list(fail or [])
        self.calls_log = calls_log
        self.n_layers, self.n_heads = int(n_layers), int(n_heads)

    def _log(self, kind: str, ident: str) -> None:
        if self.calls_log:
            line = json.dumps({"kind": kind, "id": ident, "pid": os.getpid(), "t": time.time()}) + "\n"
            fd = os.open(self.calls_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)

    def run_stage(self, stage: Stage, deps: dict[str, StageOutput], ctx: RunContext) -> dict[str, Any]:
        self._log("stage", stage.id)
        time.sleep(self.stage_sleep_s)
        if any(f in stage.id for f in self.fail_stages):
            raise RuntimeError(f"fake failure of stage {stage.id} (backend_options.fail_stages)")
        if stage.kind == "proxy":
            (ctx.work_dir / "checkpoint.json").write_text(json.dumps({"fake_checkpoint": stage.id}))
            return {"proxy_acc_train": 0.9, "n_src": ctx.spec.proxy_tuning.n_src}
        if stage.kind == "scores":
            # The head-score table format of circuitlab.discovery.HeadScores, written directly so that
            # testing the sweep machinery does not depend on the discovery package.
            import pandas as pd

            rng = random.Random(stable_hash(stage.key, 12))
            df = pd.DataFrame([{"layer": l, "head": h, "score": rng.gauss(0, 1)}
                               for l in range(self.n_layers) for h in range(self.n_heads)])
            df["rank"] = df["score"].rank(ascending=False, method="first").astype(int)
            df["method"], df["model"] = ctx.spec.discovery.scorer, ctx.spec.model.name
            df["language"] = stage.language or stage.proxy or ""
            df["n_examples"], df["seed"] = ctx.spec.discovery.n_examples, ctx.spec.discovery.seed
            df["backend"] = self.name  # synthetic, like the result rows
            df.to_parquet(ctx.work_dir / "scores.parquet", index=False)
            return {"scores": "scores.parquet", "n_heads": self.n_layers * self.n_heads}
        # baseline: θ1 is good on its proxy, worse on targets; the base model is worse still.
        base = 0.5 if stage.proxy is None else (0.75 if stage.language == stage.proxy else 0.45)
        acc = base + 0.15 * _u(stage.proxy, stage.language)
        return {"accuracy": round(acc, 4), "macro_f1": round(acc - 0.05, 4), "n": ctx.spec.evaluation.n_test}

    def run_cell(self, cell: Cell, stages: dict[str, StageOutput], ctx: RunContext) -> CellResult:
        self._log("cell", cell.id)
        time.sleep(self.sleep_s)
        fail = list(self.fail)
        if self.fail_if_exists and os.path.exists(self.fail_if_exists):
            with open(self.fail_if_exists) as fh:
                fail += [line.strip() for line in fh if line.strip()]
        if any(f in cell.id for f in fail):
            raise RuntimeError(f"fake failure of {cell.id} (backend_options.fail)")
        before_t = stages["before_target"].summary["accuracy"]
        before_p = stages["before_proxy"].summary["accuracy"]
        rng = random.Random(stable_hash(cell.coords(), 12))
        gain = METHOD_EFFECT[cell.method] + 0.02 * cell.shots / 25 + rng.gauss(0, 0.02)
        target_acc = min(1.0, max(0.0, before_t + gain))
        forgetting = METHOD_FORGETTING.get(cell.method, 0.01) + abs(rng.gauss(0, 0.01))
        n_total = 268_098_176
        n_upd = n_total if cell.info.dense else (
            20_000 if cell.method == "norms" else 737_280 if cell.method == "lora"
            else int(330_000 * (cell.k if isinstance(cell.k, int) else 6)))
        val = min(1.0, max(0.0, target_acc + rng.gauss(0, 0.03)))
        (ctx.work_dir / "delta.json").write_text(json.dumps({"cell": cell.id, "n_params_updated": n_upd}))
        row = {
            "backend": self.name,  # synthetic: reports label rows with backend "fake", `circuitlab plot` refuses them
            **cell.coords(), "target_acc": round(target_acc, 4), "target_f1": round(target_acc - 0.04, 4),
            "target_acc_before": before_t, "proxy_acc_before": before_p,
            "proxy_acc_after": round(before_p - forgetting, 4), "forgetting": round(forgetting, 4),
            "param_fraction": n_upd / n_total, "n_params_updated": n_upd, "lr": ctx.spec.tuning.lr,
            "wall_s": self.sleep_s, "branch": cell.method, "val_acc": round(val, 4), "val_f1": round(val - 0.04, 4),
        }
        return CellResult(row, meta={"fake": True})


__all__ = ["FakeBackend"]
