"""Make the tiny model the engine tests serve (the Hugging Face hub is unreachable here).

Run with the vLLM virtualenv's python (it has torch, transformers, tokenizers):
    "$MODELPORT_VLLM_PYTHON" tools/build-tiny-model.py [--cache DIR]

A `LlamaForCausalLM` with random weights from a fixed seed (hidden 256, intermediate 512,
2 layers, 4 heads, 2 KV heads, tied embeddings, bf16: 1.7 M parameters) and a byte-level BPE
tokenizer (vocabulary 2,048) trained on local text (the system's licence texts and some of the
standard library's sources, read in sorted order) with a ChatML chat template. Its output is
random text, which is all a test of serving needs; what matters is that vLLM loads it and
counts its tokens like any other model.

Cached by version: $MODELPORT_CACHE/models/tiny-llama-<VERSION>/ holds the model directory and
a BUILD-INFO stamp written last; a directory with a stamp is reused. Prints the model directory.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import sysconfig
import time
from pathlib import Path

# Bump when anything below changes what is made.
VERSION = "1"
SEED = 20261206
VOCAB = 2048
MAX_POSITIONS = 32768
SPECIAL = ["<s>", "</s>", "<pad>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
TRAINING_BYTES = 4_000_000


def training_files() -> list[Path]:
    """Local text in a fixed order: licence texts, then stdlib sources, up to TRAINING_BYTES."""
    roots = [Path("/usr/share/common-licenses"), Path(sysconfig.get_paths()["stdlib"])]
    files, total = [], 0
    for root in roots:
        if not root.is_dir():
            continue
        pattern = "*" if root.name == "common-licenses" else "*.py"
        for f in sorted(root.glob(pattern)):
            if f.is_file() and total < TRAINING_BYTES:
                files.append(f)
                total += f.stat().st_size
    if total < 100_000:
        sys.exit(f"build-tiny-model: only {total} bytes of local text to train a tokenizer on")
    return files


def make_tokenizer(out: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train([str(f) for f in training_files()], trainer)
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="<|im_end|>",
        pad_token="<pad>",
        additional_special_tokens=["<|im_start|>", "</s>"],
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.model_max_length = MAX_POSITIONS
    fast.save_pretrained(out)


def make_model(out: Path) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast.from_pretrained(out)
    torch.manual_seed(SEED)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=64,
        max_position_embeddings=MAX_POSITIONS,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        torch_dtype="bfloat16",
    )
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(out, safe_serialization=True)
    gen = {"bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id}
    (out / "generation_config.json").write_text(json.dumps(gen, indent=2) + "\n")


def main() -> int:
    default_cache = Path(os.environ.get("MODELPORT_CACHE", Path.home() / ".cache/modelport"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=default_cache)
    args = parser.parse_args()
    final = args.cache / "models" / f"tiny-llama-{VERSION}"
    if (final / "BUILD-INFO").is_file():
        print(final / "model")
        return 0
    t0 = time.monotonic()
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "model").mkdir(parents=True)
    make_tokenizer(tmp / "model")
    make_model(tmp / "model")
    info = f"tiny-llama {VERSION} seed {SEED} vocab {VOCAB}\nmade in {time.monotonic() - t0:.1f}s\n"
    (tmp / "BUILD-INFO").write_text(info)
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    print(f"[build-tiny-model] made in {time.monotonic() - t0:.1f}s: {final}", file=sys.stderr)
    print(final / "model")
    return 0


if __name__ == "__main__":
    sys.exit(main())
