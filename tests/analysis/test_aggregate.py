import math

import pandas as pd
import pytest

from circuitlab.analysis import aggregate_seeds


def test_mean_std_n_per_group():
    df = pd.DataFrame({
        "method": ["circuit", "circuit", "circuit", "full"],
        "shots": [25, 25, 25, 25],
        "seed": [1, 2, 3, 1],
        "target_acc": [0.50, 0.60, 0.55, 0.40],
        "forgetting": [0.0, 0.02, float("nan"), 0.3],
    })
    out = aggregate_seeds(df, by=["method", "shots"], metrics=["target_acc", "forgetting"], digits=3)
    assert list(out.columns) == ["method", "shots", "target_acc_mean", "target_acc_std", "target_acc_pm",
                                 "forgetting_mean", "forgetting_std", "forgetting_pm", "n"]
    c = out.set_index("method").loc["circuit"]
    assert c["target_acc_mean"] == pytest.approx(0.55)
    assert c["target_acc_std"] == pytest.approx(0.05)
    assert c["target_acc_pm"] == "0.550 ± 0.050"
    assert c["forgetting_mean"] == pytest.approx(0.01)  # NaN skipped
    assert c["n"] == 3
    f = out.set_index("method").loc["full"]
    assert math.isnan(f["target_acc_std"]) and f["target_acc_pm"] == "0.400"


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="target_f1"):
        aggregate_seeds(pd.DataFrame({"method": ["a"], "target_acc": [1.0]}), by=["method"], metrics=["target_f1"])
