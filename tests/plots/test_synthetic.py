"""Rows of the fake test backend: found by their ``backend`` column, and figures titled FAKE BACKEND."""

import pandas as pd
import plotly.graph_objects as go

from circuitlab.synthetic import FAKE_LABEL, fake_rows, label_fake, n_fake_rows


def test_fake_rows_need_the_backend_column():
    assert n_fake_rows(pd.DataFrame({"target_acc": [0.5, 0.6]})) == 0  # older run folders: real
    df = pd.DataFrame({"backend": ["fake", "ctsft", None, "fake"]})
    assert fake_rows(df).tolist() == [True, False, False, True]
    assert n_fake_rows(df) == 2 and n_fake_rows(None) == 0 and n_fake_rows(df.iloc[:0]) == 0


def test_label_fake_prefixes_the_title_once():
    fig = go.Figure(layout=dict(title_text="Forgetting vs gain"))
    assert label_fake(label_fake(fig)).layout.title.text == f"{FAKE_LABEL} · Forgetting vs gain"
    assert label_fake(go.Figure()).layout.title.text == FAKE_LABEL
