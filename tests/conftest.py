"""Shared fixtures: where the shared data lives, and tiny real models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CIRCUITLAB_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def nusax_dir() -> Path:
    """The NusaX copy beside the repo (``../shared/data/nusax``), never a copy inside it."""
    path = SHARED / "data" / "nusax"
    if not path.is_dir():
        pytest.skip(f"NusaX data not found at {path}")
    return path


@pytest.fixture(scope="session")
def xnli_dir() -> Path:
    path = SHARED / "data" / "xnli"
    if not path.is_dir():
        pytest.skip(f"XNLI data not found at {path}")
    return path


TINY_MODELS = ["tiny-gpt2", "tiny-qwen2", "tiny-llama", "tiny-gemma3"]


@pytest.fixture(scope="session", params=TINY_MODELS)
def tiny_model(request):
    """Each tiny random model family in turn (a real HF model booted as a TransformerBridge)."""
    from circuitlab.models import load_model

    return load_model(request.param)


@pytest.fixture(scope="session")
def tiny_qwen2():
    from circuitlab.models import load_model

    return load_model("tiny-qwen2")


@pytest.fixture(scope="session")
def gemma():
    """The embedded default model (slow: converted once into the cache, then ~4 s to boot)."""
    from circuitlab.models import load_model

    return load_model("gemma-3-270m")


DATASET_TOML = '''name = "tiny-reviews"
format = "csv"
files = "{language}/{split}.csv"
[columns]
text = "review"
label = "stars"
id = "uid"
[splits]
valid = "dev"
[task]
template = "Review: {text}\\nSentiment:"
[task.verbalizers]
bad = " negative"
good = " positive"
'''


@pytest.fixture
def dataset_folder(tmp_path: Path) -> Path:
    """A small dataset folder (``dataset.toml``): languages ``jv``/``su``, splits train/dev/test, 2 labels.

    The verbalizers are single tokens of the tiny models' tokenizer.
    """
    root = tmp_path / "tiny-reviews"
    words = {"jv": ("apik", "ala"), "su": ("alus", "goreng")}
    for language, (good, bad) in words.items():
        for split in ("train", "dev", "test"):
            path = root / language / f"{split}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            rows = [f"{i},{good if i % 2 else bad} {split} {i},{'good' if i % 2 else 'bad'}" for i in range(12)]
            path.write_text("uid,review,stars\n" + "\n".join(rows) + "\n")
    (root / "dataset.toml").write_text(DATASET_TOML)
    return root
