# Copyright 2026 Individual Contributor: abc-grpo-verl contributors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""A randomly initialised Qwen3 saved as a Hugging Face model directory, with an offline byte-level tokenizer.

The GPU machine reaches no model hub, so the harness builds what verl's engine (`HFModelConfig` loads a tokenizer
and a config from a path) and the evaluation (`AutoTokenizer` + `from_pretrained`) read: a byte-level BPE without
merges (every byte one token, so any text encodes) and a Qwen3 of the requested width. Token ids 0..255 are the
bytes, 256 is `<|endoftext|>` (end of sequence and padding); the model's vocabulary may be larger than that.
"""

from pathlib import Path

import torch

EOS = "<|endoftext|>"


def byte_level_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {symbol: i for i, symbol in enumerate(pre_tokenizers.ByteLevel.alphabet())}
    vocab[EOS] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token=EOS, pad_token=EOS)


def write_random_qwen3(path: Path, *, hidden: int, intermediate: int, layers: int, heads: int, kv_heads: int,
                       head_dim: int, vocab: int, max_positions: int, device: str, seed: int = 0) -> int:
    """Write a random bf16 Qwen3 (untied embeddings, as the larger Qwen3 models) and the tokenizer; return #params."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tokenizer = byte_level_tokenizer()
    if vocab < len(tokenizer):
        raise ValueError(f"vocab={vocab} is invalid: the byte-level tokenizer needs at least {len(tokenizer)} ids")
    config = Qwen3Config(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv_heads, head_dim=head_dim,
        max_position_embeddings=max_positions, tie_word_embeddings=False,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=None,
    )
    torch.manual_seed(seed)
    with torch.device(device):  # initialising on the GPU takes a fraction of the CPU's time at this size
        model = Qwen3ForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return sum(p.numel() for p in model.parameters())
