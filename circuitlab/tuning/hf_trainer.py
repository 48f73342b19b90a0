"""The head mask as a ``transformers`` Trainer component (also TRL's ``SFTTrainer``).

Intuition
---------
``Trainer`` builds its optimizer from the parameters that require gradients when
``train()`` starts. :class:`HeadMaskCallback` therefore *installs* the mask when it is
created: the model is frozen, whole tensors of the mask (norms) get
``requires_grad``, and each partially masked projection is swapped for a
:class:`~circuitlab.tuning.sliced.SlicedProjection` whose trainable blocks are small
parameters of their own (see :mod:`circuitlab.tuning.sliced`). Frozen elements are
then neither in the autograd graph nor in the optimizer, so no optimizer, weight
decay, gradient clipping or mixed precision setting can move them: they stay
bit-identical by construction. At ``on_train_end`` the callback writes the trained
blocks back and restores the original modules, leaving a plain ``transformers``
model that ``save_pretrained`` writes as usual.

Because the trainable parameters are ordinary ``nn.Parameter`` objects of the model,
everything ``Trainer`` does on top (``accelerate`` multi-GPU/DDP, gradient
accumulation, logging through ``report_to``, TensorBoard/MLflow callbacks) works
unchanged. Checkpoints written *during* training hold the swapped form (keys such
as ``q_proj.w_pieces.0``); resume them with the callback installed the same way.

Usage::

    mask = ParamMask.for_heads(model, heads)            # model: a LoadedModel
    masking = HeadMaskCallback(model, mask)
    trainer = Trainer(model=masking.hf_model, args=args, train_dataset=ds, callbacks=[masking])
    trainer.train()                                      # model is merged again afterwards
"""

from __future__ import annotations

from torch import nn

from circuitlab.tuning.masks import ParamMask
from circuitlab.tuning.tuners import MaskTuner, Tuner

try:  # transformers is a hard dependency; the guard only keeps import errors readable
    from transformers import TrainerCallback
except ImportError:  # pragma: no cover
    TrainerCallback = object  # type: ignore[misc,assignment]


class TunerCallback(TrainerCallback):
    """Install any :class:`~circuitlab.tuning.tuners.Tuner` now, merge it when training ends.

    Args:
        model: the :class:`~circuitlab.models.LoadedModel` to tune; pass :attr:`hf_model`
            (its ``transformers`` model) to the trainer.
        tuner: a :class:`MaskTuner` (head slices, norms, full) or a :class:`LoraTuner`.
    """

    def __init__(self, model, tuner: Tuner):
        self.model = model
        self.tuner = tuner
        self.trainables: dict[str, nn.Parameter] = tuner.install(model)

    @property
    def hf_model(self) -> nn.Module:
        """The model to hand to the trainer (the tuner is installed in it)."""
        return self.model.hf_model

    @property
    def n_trainable(self) -> int:
        """Elements the optimizer holds."""
        return sum(p.numel() for p in self.trainables.values())

    def merge(self) -> None:
        """Write the trained values back and restore the original modules (idempotent)."""
        self.tuner.merge()

    def on_train_end(self, args, state, control, **kwargs):
        self.merge()
        return control


class HeadMaskCallback(TunerCallback):
    """Train exactly a :class:`ParamMask`'s elements inside ``Trainer``/``SFTTrainer`` (see module docstring)."""

    def __init__(self, model, mask: ParamMask):
        self.mask = mask
        super().__init__(model, MaskTuner(mask))
