"""Datasets as lists of :class:`Example`: NusaX-Senti, XNLI, NusaX-Lexicon, your own, and seeded samplers.

Your own dataset is a folder with a ``dataset.toml`` (:mod:`circuitlab.data.folder`); its path
is accepted wherever a dataset name is. Local copies are read from an explicit ``data_dir`` or ``$CIRCUITLAB_NUSAX_DIR`` /
``$CIRCUITLAB_XNLI_DIR``; otherwise the Hugging Face hub is tried. Every failure
is a :class:`DataError` that says what to fix.
"""

from circuitlab.data.errors import DataError
from circuitlab.data.folder import dataset_sha256, is_dataset_path, load_folder_parallel
from circuitlab.data.lexicon import LEXICON_LANGUAGES, load_lexicon
from circuitlab.data.nusax import (
    NUSAX_LABELS,
    NUSAX_LANGUAGES,
    NUSAX_SPLITS,
    load_nusax,
    load_nusax_parallel,
)
from circuitlab.data.registry import (
    DatasetSpec,
    available_languages,
    default_data_dir,
    find_data,
    find_local_data_dir,
    get_dataset,
    list_datasets,
    load_examples,
)
from circuitlab.data.samplers import balanced_sample, k_shot, proxy_pools, stratified_split
from circuitlab.data.types import Example
from circuitlab.data.xnli import (
    XNLI_LABELS,
    XNLI_LANGUAGES,
    XNLI_SPLITS,
    load_xnli,
    load_xnli_parallel,
)

__all__ = [
    "DataError",
    "DatasetSpec",
    "Example",
    "LEXICON_LANGUAGES",
    "NUSAX_LABELS",
    "NUSAX_LANGUAGES",
    "NUSAX_SPLITS",
    "XNLI_LABELS",
    "XNLI_LANGUAGES",
    "XNLI_SPLITS",
    "available_languages",
    "balanced_sample",
    "dataset_sha256",
    "default_data_dir",
    "find_data",
    "find_local_data_dir",
    "get_dataset",
    "is_dataset_path",
    "k_shot",
    "list_datasets",
    "load_examples",
    "load_folder_parallel",
    "load_lexicon",
    "load_nusax",
    "load_nusax_parallel",
    "load_xnli",
    "load_xnli_parallel",
    "proxy_pools",
    "stratified_split",
]
