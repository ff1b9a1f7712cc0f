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
"""The end-to-end run's model and data, made here with no download: a tiny Qwen3 that already answers in the
expected format, and GSM8K-format training data written by the project's own GSM8K script.

    python e2e/make_fixture.py OUTPUT_DIR

writes OUTPUT_DIR/model (config, weights, tokenizer with a chat template) and OUTPUT_DIR/data/{train,test}.parquet.

- **Tokenizer**: byte-level with no merges (every UTF-8 byte is one token, so "\\n" is one token, as verl's
  continuous-token builder needs), plus Qwen3's special tokens and a Qwen3-style chat template.
- **Model**: Qwen3, hidden 64, two heads of size 32 (vLLM's CPU attention refuses head sizes below 32), 2 layers.
- **Warm start**: a short supervised run on the training prompts, answering ``\\boxed{sum}``. A random model never
  answers correctly, so every group's rewards would be equal and every advantage 0: nothing to clip. The warm start
  stops while the model is still often wrong, so groups hold both rewards and the update has a signal.
- **Data**: one-digit additions in GSM8K's layout (a question, an answer ending in "#### <sum>"), converted by
  ``examples/data_preprocess/gsm8k.py``: the prompt, ground truth and data source a GSM8K user's run has.
"""

import argparse
import json
import random
import subprocess
import sys
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

from abc_grpo_verl.problems import prompt_messages

REPO = Path(__file__).resolve().parents[1]
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# Qwen3's layout of a conversation, without tools or thinking (the recipes turn thinking off for Qwen3).
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Problems a + b with 0 <= a, b < OPERAND_LIMIT; every one of them is a training prompt.
OPERAND_LIMIT = 6
TEST_PROBLEMS = 8  # the first training problems again: validation here checks the plumbing, not generalisation
WARM_STEPS = 100
WARM_LR = 3e-3
SEED = 0


def byte_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level tokenizer (256 byte tokens, no merges) with Qwen3's special tokens and a chat template."""
    byte_chars = pre_tokenizers.ByteLevel.alphabet()
    vocab = {char: index for index, char in enumerate(sorted(byte_chars))}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, chat_template=CHAT_TEMPLATE)
    tokenizer.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS})
    tokenizer.eos_token, tokenizer.pad_token = "<|im_end|>", "<|endoftext|>"
    return tokenizer


def tiny_qwen3(tokenizer: PreTrainedTokenizerFast) -> Qwen3ForCausalLM:
    config = Qwen3Config(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=32, max_position_embeddings=512,
        tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None, dtype="float32",
    )
    torch.manual_seed(SEED)
    return Qwen3ForCausalLM(config)


def problems() -> list[tuple[int, int]]:
    pairs = [(a, b) for a in range(OPERAND_LIMIT) for b in range(OPERAND_LIMIT)]
    random.Random(SEED).shuffle(pairs)
    return pairs


def warm_start(model: Qwen3ForCausalLM, tokenizer: PreTrainedTokenizerFast, pairs: list[tuple[int, int]]) -> float:
    """Supervised steps on `pairs` (the answer tokens only); returns the final loss."""
    rows = []
    for a, b in pairs:
        prompt = tokenizer.apply_chat_template(prompt_messages(f"What is {a} + {b}?"), add_generation_prompt=True,
                                               tokenize=False)
        prompt_ids = tokenizer(prompt)["input_ids"]
        answer_ids = tokenizer(f"\\boxed{{{a + b}}}<|im_end|>")["input_ids"]
        rows.append((prompt_ids + answer_ids, len(prompt_ids)))
    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), width), tokenizer.pad_token_id)
    labels = torch.full((len(rows), width), -100)
    for row, (ids, prompt_length) in enumerate(rows):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        labels[row, prompt_length : len(ids)] = torch.tensor(ids[prompt_length:])
    optimizer = torch.optim.AdamW(model.parameters(), lr=WARM_LR)
    model.train()
    for _ in range(WARM_STEPS):
        loss = model(input_ids=input_ids, attention_mask=(labels != -100) | (input_ids != tokenizer.pad_token_id),
                     labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return float(loss)


def write_data(pairs: list[tuple[int, int]], output_dir: Path) -> None:
    """GSM8K-format JSONL for the training problems and TEST_PROBLEMS of them as the test split, converted to verl
    parquet by the project's GSM8K script."""
    source = output_dir / "source"
    source.mkdir(parents=True, exist_ok=True)
    for name, split in (("train", pairs), ("test", pairs[:TEST_PROBLEMS])):
        lines = [json.dumps({"question": f"What is {a} + {b}?", "answer": f"{a} + {b} = {a + b}\n#### {a + b}"})
                 for a, b in split]
        (source / f"{name}.jsonl").write_text("\n".join(lines) + "\n")
    subprocess.run([sys.executable, str(REPO / "examples/data_preprocess/gsm8k.py"),
                    "--input", f"train={source / 'train.jsonl'}", "--input", f"test={source / 'test.jsonl'}",
                    "--output-dir", str(output_dir / "data")], check=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output_dir", type=Path)
    args = parser.parse_args(argv)
    tokenizer = byte_tokenizer()
    if tokenizer("\n")["input_ids"] != [tokenizer.convert_tokens_to_ids("Ċ")]:
        sys.exit("make_fixture: the tokenizer does not encode '\\n' as one token, which verl needs")
    pairs = problems()
    model = tiny_qwen3(tokenizer)
    loss = warm_start(model, tokenizer, pairs)
    model.save_pretrained(args.output_dir / "model")
    tokenizer.save_pretrained(args.output_dir / "model")
    model.generation_config.save_pretrained(args.output_dir / "model")
    write_data(pairs, args.output_dir)
    print(f"make_fixture: tiny Qwen3 ({sum(p.numel() for p in model.parameters())} parameters, warm-start loss "
          f"{loss:.3f}) and {len(pairs)} training problems in {args.output_dir}")


if __name__ == "__main__":
    main()
