"""Turn a GGUF checkpoint into a plain Hugging Face folder, once.

``transformers`` reads GGUF files directly (``gguf_file=``) and dequantizes every
tensor to float32, but that takes ~40 s for Gemma-3-270M and must not be paid on
every load. We convert once, clear the quantizer flags so that ``save_pretrained``
writes an ordinary checkpoint, and write the folder atomically (temp folder, then
rename) so an interrupted conversion never leaves a half-written model behind.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import torch


def gguf_to_hf_folder(gguf_path: Path, out_dir: Path) -> Path:
    """Dequantize ``gguf_path`` into the HF folder ``out_dir`` (returned); a no-op if it exists."""
    if (out_dir / "config.json").exists():
        return out_dir
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf_path.parent), gguf_file=gguf_path.name, dtype=torch.float32
    )
    # Forget that the weights came from a quantized file: they are plain float32 now.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = Path(tempfile.mkdtemp(prefix=out_dir.name + ".", dir=out_dir.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
