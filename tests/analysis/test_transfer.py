"""transfer_difficulty on a tiny hand-made NusaX copy (no real data needed) and on the shared lexicon."""

import math

import pandas as pd
import pytest

from circuitlab.analysis import DIFFICULTY_MEASURES, lexical_distance, transfer_difficulty, zero_shot_accuracies
from circuitlab.analysis.transfer import as_hardness, harder_is_higher

SENTENCES = {
    "indonesian": ["saya suka ini", "buruk sekali", "biasa saja", "bagus sekali", "tidak enak", "lumayan"],
    "javanese": ["aku seneng iki", "elek banget", "biasa wae", "apik banget", "ora enak", "lumayan"],
}
LABELS = ["positive", "negative", "neutral", "positive", "negative", "neutral"]


@pytest.fixture
def tiny_nusax(tmp_path):
    """sentiment/{indonesian,javanese}/{valid,test}.csv and lexicon/javanese.csv, 6 sentences each."""
    for language, texts in SENTENCES.items():
        folder = tmp_path / "sentiment" / language
        folder.mkdir(parents=True)
        frame = pd.DataFrame({"id": range(len(texts)), "text": texts, "label": LABELS})
        for split in ("valid", "test"):
            frame.to_csv(folder / f"{split}.csv", index=False)
    (tmp_path / "lexicon").mkdir()
    # abu/awu: 1 edit in 3 letters; adopsi identical; "Kami "/kita: 3 substitutions in 4 after strip + casefold
    (tmp_path / "lexicon" / "javanese.csv").write_text(",indonesian,javanese\n0,abu,awu\n1,adopsi,adopsi\n2,Kami ,kita\n")
    return tmp_path


def test_given_accuracies_and_lexicon_hand_computed(tiny_nusax):
    out = transfer_difficulty("indonesian", ["jav"], accuracies={"ind": 0.75, "javanese": 0.5}, data_dir=tiny_nusax,
                              cka=False, progress=False)
    row = out.table.iloc[0]
    assert (row["proxy"], row["target"]) == ("indonesian", "jav")  # target keeps the caller's spelling
    assert (row["a0"], row["proxy_acc"], row["gap"]) == (0.5, 0.75, 0.25)
    assert row["lex_share_different"] == pytest.approx(2 / 3)
    assert row["lex_mean_nld"] == pytest.approx((1 / 3 + 0 + 3 / 4) / 3)
    assert row["lex_n_entries"] == 3
    assert math.isnan(row["cka_mean"]) and out.cka.empty
    assert out.config["accuracies_given"] == ["indonesian", "javanese"]


def test_lexicon_needs_an_indonesian_proxy(tiny_nusax):
    out = transfer_difficulty("javanese", ["indonesian"], accuracies={"jav": 0.6, "ind": 0.7}, data_dir=tiny_nusax,
                              cka=False, progress=False)
    assert math.isnan(out.table.loc[0, "lex_mean_nld"])
    assert "proxy=indonesian" in out.config["lexicon_note"]


def test_cka_needs_a_model(tiny_nusax):
    with pytest.raises(ValueError, match="model"):
        transfer_difficulty("ind", ["jav"], data_dir=tiny_nusax, progress=False)


def test_evaluates_and_measures_cka_with_a_model(tiny_nusax):
    from circuitlab.models import load_model

    model = load_model("tiny-gpt2")
    out = transfer_difficulty("ind", ["jav"], model=model, accuracies={"ind": 0.9}, data_dir=tiny_nusax,
                              cka_n=5, progress=False)
    row = out.table.iloc[0]
    direct = zero_shot_accuracies(model, ["javanese"], data_dir=tiny_nusax, progress=False)
    assert row["a0"] == pytest.approx(direct["accuracy"].item()) and row["n_eval"] == 6
    assert row["proxy_acc"] == 0.9 and row["gap"] == pytest.approx(0.9 - row["a0"])
    assert row["n_cka"] == 5
    assert out.cka["layer"].tolist() == [0, 1, 2] and (out.cka["target"] == "jav").all()
    assert row["cka_mean"] == pytest.approx(out.cka["cka"].mean())
    assert row["cka_last"] == pytest.approx(out.cka["cka"].iloc[-1])
    assert out.config["model"] == "tiny-gpt2" and out.config["cka_split"] == "valid"


def test_real_lexicon_matches_lexical_distance(nusax_dir):
    from circuitlab.data import load_lexicon

    out = transfer_difficulty("indonesian", ["javanese", "acehnese"], accuracies={"ind": 1, "jav": 1, "ace": 1},
                              data_dir=nusax_dir, cka=False, progress=False)
    for row in out.table.itertuples():
        lex = lexical_distance(load_lexicon(row.target, nusax_dir), "indonesian", "local")
        assert row.lex_mean_nld == pytest.approx(lex.mean_normalised_levenshtein)
        assert row.lex_n_entries == lex.n_entries > 100


def test_measure_orientation():
    assert not harder_is_higher("a0") and harder_is_higher("gap") and not harder_is_higher("cka_mean")
    assert harder_is_higher("something_new")
    table = pd.DataFrame({"a0": [0.4, 0.6], "gap": [0.3, 0.1]})
    assert as_hardness(table, "a0").tolist() == [-0.4, -0.6]
    assert as_hardness(table, "gap").tolist() == [0.3, 0.1]
    assert set(DIFFICULTY_MEASURES) >= {"a0", "gap", "lex_share_different", "lex_mean_nld", "cka_mean"}
