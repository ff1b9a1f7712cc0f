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
"""Evaluation part: `python -m abc_grpo_verl.eval` (Hugging Face backend) through its own `main(argv)`.

A random Qwen3 with the byte-level tokenizer (gpu/random_model.py) samples k completions for each of a few
synthetic arithmetic problems written as a benchmark file; the evaluation grades them with the training reward as
usual. A random model writes random bytes until `--max-tokens`, so accuracy is ~0 and every completion has the full
length: what this measures is the sampling and grading throughput (samples/s, tokens/s) of the HF backend, from
model load to written results, not a score.
"""

import json
import random
import time
from pathlib import Path

import torch
from random_model import write_random_qwen3

BENCHMARK = "gpu_check_arith"


def write_problems(data_dir: Path, count: int) -> None:
    rng = random.Random(0)
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / f"{BENCHMARK}.jsonl").open("w") as f:
        for i in range(count):
            a, b = rng.randint(10, 999), rng.randint(10, 999)
            f.write(json.dumps({"id": i, "problem": f"What is {a} * {b}?", "answer": str(a * b)}) + "\n")


def run(settings, result):
    device = settings["device"]
    s = settings["eval"]
    if device == "cuda" and not torch.cuda.is_available():
        return result.skip("--device cuda, but torch.cuda.is_available() is False")
    from abc_grpo_verl import eval as evaluation

    work = Path(settings["work_dir"]) / "eval"
    model_dir, data_dir, output_dir = work / "model", work / "data", work / "out"
    result.data["parameters"] = write_random_qwen3(
        model_dir, hidden=s["hidden"], intermediate=s["intermediate"], layers=s["layers"], heads=s["heads"],
        kv_heads=s["kv_heads"], head_dim=s["head_dim"], vocab=s["vocab"], max_positions=4096, device=device)
    write_problems(data_dir, s["problems"])
    argv = ["--model", f"random={model_dir}", "--benchmarks", BENCHMARK, "--data-dir", str(data_dir),
            "--output-dir", str(output_dir), "--k", str(s["k"]), "--max-tokens", str(s["max_tokens"]),
            "--batch-size", str(s["batch_size"]), "--backend", "hf", "--device", device,
            "--dtype", "bfloat16" if device == "cuda" else "float32"]
    result.data["argv"] = ["python", "-m", "abc_grpo_verl.eval", *argv]
    result.save()
    start = time.perf_counter()
    status = evaluation.main(argv)
    wall = time.perf_counter() - start
    if status != 0:
        return result.fail(f"python -m abc_grpo_verl.eval exited with {status} (its error is in the part's log)")
    samples = json.loads((output_dir / "results.json").read_text())["models"]["random"]["samples"][BENCHMARK]
    tokens = sum(sample["num_tokens"] for sample in samples)
    result.data.update(wall_s=wall, samples=len(samples), tokens=tokens, samples_per_s=len(samples) / wall,
                       tokens_per_s=tokens / wall, results_md=str(output_dir / "results.md"))
