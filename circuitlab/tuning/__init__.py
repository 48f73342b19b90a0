"""Tuning: adapt θ1 to a target language by training only chosen heads, and measure it honestly.

The pieces, from the smallest up:

- :mod:`.families`: where each architecture keeps its projections and norms (canonical names);
- :mod:`.masks`: :class:`ParamMask`, the exact elements a method may change (head slices, norms);
- :mod:`.sliced` / :mod:`.tuners`: make exactly those elements trainable (slices as small parameters,
  or ``peft`` LoRA) and merge them back;
- :mod:`.methods`: the registry of methods (circuit, nearzero, least, random, norms, full, direct, lora);
- :mod:`.trainer`: one AdamW loop for all of them (warm-up, NaN guard, checkpoint/resume);
- :mod:`.hf_trainer`: the same tuners as a ``transformers`` Trainer/TRL SFTTrainer callback;
- :mod:`.memory`: selective recomputation of elementwise activations (less memory, same gradients);
- :mod:`.proxy`: θ1, the proxy-competence checkpoint, cached by its configuration;
- :mod:`.deltas`: sparse deltas (apply/revert exactly) and plain HF export;
- :mod:`.protocol`: which pool each stage's examples come from;
- :mod:`.cell`: :func:`tune_cell`, one cell as a pure function: the learning rate chosen on validation,
  target and proxy test accuracy, the sparse delta. Grids of cells, θ1 and the baselines are
  :mod:`circuitlab.experiments`' (``circuitlab tune`` and ``sweep`` both run there).
"""

from circuitlab.methods import AUTO_METHOD, Method, choose_branch
from circuitlab.results import CellResult
from circuitlab.tuning.cell import CellConfig, CellExamples, tune_cell
from circuitlab.tuning.deltas import (
    DeltaError, ModelSnapshot, SparseDelta, apply_delta, compute_delta, count_changed, export_hf, hf_state_dict, load_delta,
    revert_delta, save_delta,
)
from circuitlab.tuning.families import FAMILIES, FamilyAdapter, ModelIndex, canonical, register_family
from circuitlab.tuning.masks import KVRule, ParamMask, TensorMask
from circuitlab.tuning.memory import selective_recompute
from circuitlab.tuning.methods import (
    BUILDERS, METHODS, MethodContext, build_tuner, choose_heads, get_method, register_method,
)
from circuitlab.tuning.protocol import DataProtocol, near_balanced_sample
from circuitlab.tuning.proxy import ProxyCheckpoint, ProxyConfig, ensure_proxy, load_proxy
from circuitlab.tuning.sliced import SlicedProjection
from circuitlab.tuning.trainer import NonFiniteLossError, TrainConfig, TrainResult, train
from circuitlab.tuning.tuners import LoraSettings, LoraTuner, MaskTuner, Tuner

__all__ = [
    "AUTO_METHOD", "BUILDERS", "FAMILIES", "METHODS", "CellConfig", "CellExamples", "CellResult", "DataProtocol",
    "DeltaError", "FamilyAdapter", "KVRule", "LoraSettings", "LoraTuner", "MaskTuner", "Method", "MethodContext",
    "ModelIndex", "ModelSnapshot", "NonFiniteLossError", "ParamMask", "ProxyCheckpoint", "ProxyConfig",
    "SlicedProjection", "SparseDelta", "TensorMask", "TrainConfig", "TrainResult", "Tuner", "apply_delta",
    "build_tuner", "canonical", "choose_branch", "choose_heads", "compute_delta", "count_changed", "ensure_proxy",
    "export_hf", "get_method", "hf_state_dict", "load_delta", "load_proxy", "near_balanced_sample",
    "register_family", "register_method", "revert_delta", "save_delta", "selective_recompute", "train",
    "tune_cell",
]
