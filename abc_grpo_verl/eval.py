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
"""``python -m abc_grpo_verl.eval``: Avg@k and Pass@k of one or more checkpoints, with the paper's protocol.

    python -m abc_grpo_verl.eval \
        --model grpo=ckpt/grpo/global_step_1340/actor --model abc=ckpt/abc/global_step_1340/actor \
        --benchmarks aime24,aime25,amc23 --k 64 --max-tokens 4096 --data-dir data/eval --output-dir runs/eval

Per model and benchmark: k samples per problem (temperature 0.6, top_p 0.95, top_k 20, the paper's prompt), graded
by ``abc_grpo_verl.reward.compute_score`` -- the training reward itself -- then Avg@k, Pass@k (first-k and
unbiased) and, with --greedy, greedy accuracy. See docs/evaluation.md.
"""

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

from tqdm import tqdm

from abc_grpo_verl.evaluation.backends import BACKENDS, STOP_STRINGS, BackendError, SamplingSpec, choose_backend
from abc_grpo_verl.evaluation.checkpoint import ModelError, ModelSpec, materialize, parse_model_specs
from abc_grpo_verl.evaluation.data import (
    INSTRUCTION,
    PROMPT_FORMATS,
    THINKING_MODES,
    DataError,
    Problem,
    load_benchmark,
    parse_benchmark_names,
    render_prompt,
    template_kwargs,
    template_reads_thinking,
    uses_chat_template,
)
from abc_grpo_verl.evaluation.metrics import average_metrics, benchmark_metrics
from abc_grpo_verl.evaluation.report import AVERAGE, write_json, write_markdown, write_plot
from abc_grpo_verl.evaluation.samples import SampleStore, StoreError, check_protocol

# The paper's sampling (authors' eval_math: temperature 0.6, top_p 0.95, top_k 20, min_p 0, seed 42).
TEMPERATURE, TOP_P, TOP_K = 0.6, 0.95, 20
DEFAULT_BATCH_SIZE = {"hf": 16, "vllm": 2048}


def _positive_int(flag: str):
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} must be an integer >= 1, got {value!r}") from None
        if number < 1:
            raise argparse.ArgumentTypeError(f"{flag} must be an integer >= 1, got {number}")
        return number

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m abc_grpo_verl.eval",
        description="Avg@k / Pass@k on AIME24, AIME25, AMC23, MATH-500 with the ABC-GRPO paper's protocol.",
    )
    parser.add_argument("--model", action="append", required=True, metavar="[NAME=]PATH",
                        help="HF model dir, verl FSDP checkpoint dir (.../global_step_N/actor) or Hub id; repeat "
                             "to compare checkpoints. NAME labels it in the reports.")
    parser.add_argument("--benchmarks", default="aime24,aime25,amc23",
                        help="comma-separated names of <data-dir>/<name>.jsonl files (default: the paper's three)")
    parser.add_argument("--k", type=_positive_int("--k"), default=64, help="samples per problem (default 64)")
    parser.add_argument("--max-tokens", type=_positive_int("--max-tokens"), default=4096,
                        help="generation budget per sample in tokens (default 4096, the authors' script default)")
    parser.add_argument("--data-dir", type=Path, required=True, help="directory holding <benchmark>.jsonl")
    parser.add_argument("--output-dir", type=Path, required=True, help="results, samples and merged models go here")
    parser.add_argument("--greedy", action="store_true", help="also report greedy (temperature 0) accuracy")
    parser.add_argument("--backend", choices=BACKENDS, default="auto", help="auto: vllm when importable and a GPU is "
                        "visible, else hf")
    parser.add_argument("--device", default="auto", help="hf backend: auto, cpu, cuda or cuda:N (vLLM uses "
                        "CUDA_VISIBLE_DEVICES)")
    parser.add_argument("--dtype", default="auto", help="auto, bfloat16, float16 or float32 (auto: bfloat16 on GPU, "
                        "float32 on CPU for hf; the checkpoint's dtype for vllm)")
    parser.add_argument("--batch-size", type=_positive_int("--batch-size"), default=None,
                        help="completions per generate call, written to disk together (default: hf 16, vllm 2048)")
    parser.add_argument("--seed", type=int, default=42, help="base seed; every sample's seed derives from it")
    parser.add_argument("--prompt-format", choices=PROMPT_FORMATS, default="auto",
                        help="auto: the tokenizer's chat template when it has one, else the paper's ChatML; "
                             "chatml: always the paper's hand-written ChatML")
    parser.add_argument("--enable-thinking", choices=THINKING_MODES, default="auto",
                        help="true/false: pass enable_thinking= to the chat template, as the recipes' "
                             "+data.apply_chat_template_kwargs.enable_thinking does in training (the Qwen3-8B "
                             "recipes need false); auto: pass nothing, the template's default (Qwen3: thinking on, "
                             "as in the paper recipes). Needs --prompt-format auto")
    return parser


def sample_seed(seed: int, benchmark: str, problem_id: str, index: int) -> int:
    """A seed per (benchmark, problem, sample): the same on every rerun, unrelated between samples."""
    digest = hashlib.sha256(f"{seed}/{benchmark}/{problem_id}/{index}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def _grade(benchmark: str, problem: Problem, text: str) -> tuple[str | None, bool]:
    # The training reward itself, so evaluation and training agree on what "correct" means.
    from abc_grpo_verl.reward import compute_score

    result = compute_score(data_source=benchmark, solution_str=text, ground_truth=problem.answer)
    return result["pred"], bool(result["acc"])


class _ModelRun:
    """Sampling for one model: loads the model only if some benchmark still has samples to produce."""

    def __init__(self, spec: ModelSpec, args: argparse.Namespace, backend_name: str):
        self.spec, self.args, self.backend_name = spec, args, backend_name
        self.dir = args.output_dir / "samples" / spec.label
        self.tokenizer = self.backend = None

    def _load(self) -> None:
        from transformers import AutoTokenizer

        path = materialize(self.spec, self.args.output_dir / "merged")
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        template = uses_chat_template(self.tokenizer, self.args.prompt_format)
        example = render_prompt(self.tokenizer, "<problem>", self.args.prompt_format, self.args.enable_thinking)
        source = "the tokenizer's chat template" if template else "the paper's ChatML"
        if self.args.enable_thinking != "auto":
            source += f" with enable_thinking={self.args.enable_thinking == 'true'}"
            if not template_reads_thinking(self.tokenizer):
                print(f"[eval] note: {self.spec.label}: the chat template never reads enable_thinking, so "
                      f"--enable-thinking {self.args.enable_thinking} changes nothing for this model")
        print(f"[eval] {self.spec.label}: prompt from {source}: {example!r}")
        (self.dir / "prompt.json").write_text(json.dumps({"chat_template_applied": template,
                                                          "enable_thinking": self.args.enable_thinking,
                                                          "example": example}))

        from abc_grpo_verl.evaluation.backends import make_backend

        self.backend = make_backend(self.backend_name, path, self.tokenizer, self.args.device, self.args.dtype,
                                    self.args.seed)

    def sample(self, benchmark: str, problems: list[Problem], store: SampleStore, n: int, spec: SamplingSpec) -> None:
        todo = [(p, j) for p in problems for j in range(n) if (p.id, j) not in store]
        if not todo:
            return
        if self.backend is None:
            self._load()
        prompt_ids = {
            p.id: self.tokenizer(render_prompt(self.tokenizer, p.problem, self.args.prompt_format,
                                               self.args.enable_thinking), add_special_tokens=False).input_ids
            for p in {p.id: p for p, _ in todo}.values()
        }
        batch_size = self.args.batch_size or DEFAULT_BATCH_SIZE[self.backend.name]
        mode = "greedy" if spec.greedy else f"k={n}"
        progress = tqdm(total=len(problems) * n, initial=len(problems) * n - len(todo), unit="sample",
                        desc=f"{self.spec.label} {benchmark} {mode}")
        started, tokens = time.perf_counter(), 0
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            seeds = [sample_seed(self.args.seed, benchmark, p.id, j) for p, j in batch]
            completions = self.backend.generate([prompt_ids[p.id] for p, _ in batch], seeds, spec)
            records = []
            for (problem, j), seed, completion in zip(batch, seeds, completions, strict=True):
                pred, correct = _grade(benchmark, problem, completion.text)
                records.append({"id": problem.id, "sample": j, "seed": seed, "pred": pred, "correct": correct,
                                "num_tokens": completion.num_tokens, "truncated": completion.truncated,
                                "completion": completion.text})
                tokens += completion.num_tokens
            store.append(records)
            progress.update(len(batch))
        progress.close()
        elapsed = time.perf_counter() - started
        print(f"[eval] {self.spec.label} {benchmark} {mode}: {len(todo)} completions, {tokens} tokens in "
              f"{elapsed:.1f} s ({tokens / max(elapsed, 1e-9):.1f} tokens/s, backend {self.backend.name})")

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()
            self.backend = None


def _sample_records(store: SampleStore, problems: list[Problem], n: int) -> list[dict]:
    """The text-free per-sample records that results.json keeps (enough to recompute every metric)."""
    return [
        {key: store.records[(p.id, j)][key] for key in ("id", "sample", "pred", "correct", "num_tokens", "truncated")}
        for p in problems
        for j in range(n)
    ]


def run(args: argparse.Namespace) -> dict:
    # Everything that can be checked without a model is checked first: a bad flag fails in seconds, not hours.
    template_kwargs(args.prompt_format, args.enable_thinking)  # chatml with --enable-thinking true/false is an error
    benchmarks = {name: load_benchmark(args.data_dir, name) for name in parse_benchmark_names(args.benchmarks)}
    specs = parse_model_specs(args.model)
    backend_name, reason = choose_backend(args.backend, args.device)
    print(f"[eval] backend: {backend_name} ({reason})")
    if backend_name == "vllm" and args.device not in ("auto", "cuda"):
        print(f"[eval] note: --device {args.device} is ignored by vllm; select GPUs with CUDA_VISIBLE_DEVICES")

    protocol = {
        "k": args.k, "max_tokens": args.max_tokens, "temperature": TEMPERATURE, "top_p": TOP_P, "top_k": TOP_K,
        "seed": args.seed, "prompt_format": args.prompt_format, "enable_thinking": args.enable_thinking,
        "instruction": INSTRUCTION, "stop": list(STOP_STRINGS), "greedy": args.greedy,
    }
    # A larger --k or --greedy on a rerun only adds samples, so neither has to match what is on disk.
    same_samples = {key: value for key, value in protocol.items() if key not in ("k", "greedy")}
    sampling = SamplingSpec(temperature=TEMPERATURE, top_p=TOP_P, top_k=TOP_K, max_tokens=args.max_tokens)
    greedy = SamplingSpec(temperature=0.0, top_p=1.0, top_k=0, max_tokens=args.max_tokens)
    for spec in specs:  # before any sampling, so a clash on the last model does not surface hours later
        # Samples from before --enable-thinking existed were made without the kwarg, i.e. with "auto".
        check_protocol(args.output_dir / "samples" / spec.label, {"model": spec.location, **same_samples},
                       missing_means={"enable_thinking": "auto"})

    results = {"protocol": protocol, "backend": backend_name,
               "benchmarks": {name: {"n_problems": len(problems)} for name, problems in benchmarks.items()},
               "models": {}}
    for spec in specs:
        model_run = _ModelRun(spec, args, backend_name)
        entry = {"model": spec.given, "kind": spec.kind, "location": spec.location, "metrics": {}, "samples": {}}
        try:
            for name, problems in benchmarks.items():
                store = SampleStore(model_run.dir / f"{name}.jsonl")
                model_run.sample(name, problems, store, args.k, sampling)
                greedy_correct = None
                if args.greedy:
                    greedy_store = SampleStore(model_run.dir / f"{name}.greedy.jsonl")
                    model_run.sample(name, problems, greedy_store, 1, greedy)
                    greedy_correct = [row[0] for row in greedy_store.correctness([p.id for p in problems], 1)]
                    entry.setdefault("greedy", {})[name] = _sample_records(greedy_store, problems, 1)
                correct = store.correctness([p.id for p in problems], args.k)
                entry["metrics"][name] = benchmark_metrics(correct, args.k, greedy_correct)
                entry["samples"][name] = _sample_records(store, problems, args.k)
        finally:
            model_run.close()
        if len(benchmarks) > 1:
            entry["metrics"][AVERAGE] = average_metrics([entry["metrics"][name] for name in benchmarks])
        prompt_info = model_run.dir / "prompt.json"
        entry["prompt"] = json.loads(prompt_info.read_text()) if prompt_info.exists() else None
        results["models"][spec.label] = entry

    args.output_dir.mkdir(parents=True, exist_ok=True)
    write_json(args.output_dir / "results.json", results)
    write_markdown(args.output_dir / "results.md", results)
    write_plot(args.output_dir / "passk.png", results)
    print((args.output_dir / "results.md").read_text())
    print(f"[eval] wrote results.json, results.md and passk.png to {args.output_dir}")
    return results


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except (DataError, ModelError, BackendError, StoreError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
