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
"""``python -m abc_grpo_verl.eval``: Avg@k, Pass@k and cons@k of checkpoints with the paper's protocol, with
bootstrap confidence intervals and paired comparisons; or, with ``--run``, the same against training step.

    python -m abc_grpo_verl.eval \
        --model grpo=ckpt/grpo/global_step_1340/actor --model abc=ckpt/abc/global_step_1340/actor \
        --benchmarks aime24,aime25,amc23 --k 64 --max-tokens 4096 --output-dir runs/eval
    python -m abc_grpo_verl.eval --run grpo=ckpt/grpo --run abc=ckpt/abc --every 2 --k 16 --output-dir runs/sweep

Per model and benchmark: k samples per problem (temperature 0.6, top_p 0.95, top_k 20, the paper's prompt), graded
by ``abc_grpo_verl.reward.compute_score`` -- the training reward itself -- then Avg@k, Pass@k (first-k and
unbiased), cons@k and, with --greedy, greedy accuracy. The benchmarks are packaged; --data-dir adds or overrides
files. See docs/evaluation.md.
"""

import argparse
import functools
import json
import sys
import time
from pathlib import Path

from tqdm import tqdm

from abc_grpo_verl.evaluation import sweep
from abc_grpo_verl.evaluation.backends import (
    BACKENDS,
    SAMPLER,
    STOP_STRINGS,
    BackendError,
    SamplingSpec,
    choose_backend,
    sample_seed,
    sampling_dtype,
)
from abc_grpo_verl.evaluation.checkpoint import (
    ModelError,
    ModelSpec,
    check_hub_models,
    discard_merged,
    materialize,
    parse_model_specs,
)
from abc_grpo_verl.evaluation.data import (
    PROMPT_FORMATS,
    THINKING_MODES,
    Benchmark,
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
from abc_grpo_verl.evaluation.samples import SampleStore, StoreError, check_protocol, sample_files, write_atomic
from abc_grpo_verl.evaluation.uncertainty import DEFAULT_LEVEL, DEFAULT_RESAMPLES, analyse, problem_values
from abc_grpo_verl.problems import INSTRUCTION, output_dir_problem

# The paper's sampling (authors' eval_math: temperature 0.6, top_p 0.95, top_k 20, min_p 0, seed 42).
TEMPERATURE, TOP_P, TOP_K = 0.6, 0.95, 20
DEFAULT_BATCH_SIZE = {"hf": 16, "vllm": 2048}
# Progress-bar redraws per second on a terminal; into a log file (a batch job's output) at most one a minute.
PROGRESS_INTERVAL_S = {True: 0.1, False: 60.0}


class UsageError(ValueError):
    """Flags that do not go together."""


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


def _level(value: str) -> float:
    try:
        level = float(value)
    except ValueError:
        level = float("nan")
    if not 0 < level < 1:
        raise argparse.ArgumentTypeError(f"--ci-level must be a number strictly between 0 and 1, got {value!r}")
    return level


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m abc_grpo_verl.eval",
        description="Avg@k / Pass@k / cons@k with confidence intervals, on packaged AIME24, AIME25, AMC23, MATH-500 "
                    "and GSM8K, with the ABC-GRPO paper's protocol.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", action="append", metavar="[NAME=]PATH",
                        help="HF model dir, verl FSDP checkpoint dir (.../global_step_N/actor) or Hub id; repeat "
                             "to compare checkpoints. NAME labels it in the reports.")
    source.add_argument("--run", action="append", metavar="[NAME=]DIR",
                        help="a verl run's checkpoint folder (trainer.default_local_dir, holding global_step_N/): "
                             "evaluate its checkpoints and plot the scores against step; repeat for one line per run")
    parser.add_argument("--every", type=_positive_int("--every"), default=None,
                        help="with --run: every n-th checkpoint, plus the last (default: every checkpoint)")
    parser.add_argument("--keep-merged", action="store_true",
                        help="with --run: keep the merged copy of each FSDP checkpoint (default: delete it once the "
                             "checkpoint's samples are complete)")
    parser.add_argument("--benchmarks", default="aime24,aime25,amc23",
                        help="comma-separated benchmark names (default: the paper's three); packaged: aime24, aime25, "
                             "amc23, math500, gsm8k")
    parser.add_argument("--k", type=_positive_int("--k"), default=64, help="samples per problem (default 64)")
    parser.add_argument("--max-tokens", type=_positive_int("--max-tokens"), default=4096,
                        help="generation budget per sample in tokens (default 4096, the authors' script default)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="directory of <name>.jsonl benchmark files; they override packaged ones of the same name "
                             "and add others (default: the packaged benchmarks only)")
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
    parser.add_argument("--ci-level", type=_level, default=DEFAULT_LEVEL,
                        help=f"confidence level of the intervals (default {DEFAULT_LEVEL})")
    parser.add_argument("--ci-resamples", type=_positive_int("--ci-resamples"), default=DEFAULT_RESAMPLES,
                        help=f"bootstrap replicates per benchmark (default {DEFAULT_RESAMPLES})")
    parser.add_argument("--ci-seed", type=int, default=0,
                        help="seed of the bootstrap's draws of problems (default 0); independent of --seed")
    return parser


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
        write_atomic(self.dir / "prompt.json", json.dumps({"chat_template_applied": template,
                                                            "enable_thinking": self.args.enable_thinking,
                                                            "example": example}))

        from abc_grpo_verl.evaluation.backends import make_backend

        self.backend = make_backend(self.backend_name, path, self.tokenizer, self.args.device, self.args.dtype,
                                    self.args.seed)

    def sample(self, benchmark: str, problems: tuple[Problem, ...], store: SampleStore, n: int,
               spec: SamplingSpec) -> None:
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
                        desc=f"{self.spec.label} {benchmark} {mode}",
                        mininterval=PROGRESS_INTERVAL_S[sys.stderr.isatty()])
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


def _sample_records(store: SampleStore, problems: tuple[Problem, ...], n: int) -> list[dict]:
    """The text-free per-sample records that results.json keeps (enough to recompute every metric)."""
    return [
        {key: store.records[(p.id, j)][key] for key in ("id", "sample", "pred", "correct", "num_tokens", "truncated")}
        for p in problems
        for j in range(n)
    ]


def _evaluate(spec: ModelSpec, args: argparse.Namespace, benchmarks: dict[str, Benchmark],
              backend_name: str) -> tuple[dict, dict]:
    """Sample what is missing for one model, then score it: (its results.json entry, {benchmark: problem values})."""
    sampling = SamplingSpec(temperature=TEMPERATURE, top_p=TOP_P, top_k=TOP_K, max_tokens=args.max_tokens)
    greedy = SamplingSpec(temperature=0.0, top_p=1.0, top_k=0, max_tokens=args.max_tokens)
    model_run = _ModelRun(spec, args, backend_name)
    entry = {"model": spec.given, "kind": spec.kind, "location": spec.location, "metrics": {}, "samples": {}}
    values = {}
    try:
        for name, benchmark in benchmarks.items():
            problems, ids = benchmark.problems, [p.id for p in benchmark.problems]
            sampled_file, greedy_file = sample_files(model_run.dir, name)
            store = SampleStore(sampled_file)
            model_run.sample(name, problems, store, args.k, sampling)
            greedy_correct = None
            if args.greedy:
                greedy_store = SampleStore(greedy_file)
                model_run.sample(name, problems, greedy_store, 1, greedy)
                greedy_correct = [bool(row[0]) for row in greedy_store.table(ids, 1, "correct")]
                entry.setdefault("greedy", {})[name] = _sample_records(greedy_store, problems, 1)
            correct, preds = store.table(ids, args.k, "correct"), store.table(ids, args.k, "pred")
            entry["metrics"][name] = benchmark_metrics(correct, args.k, greedy_correct, preds)
            entry["samples"][name] = _sample_records(store, problems, args.k)
            values[name] = problem_values(correct, preds, args.k)
    finally:
        model_run.close()
    if len(benchmarks) > 1:
        entry["metrics"][AVERAGE] = average_metrics([entry["metrics"][name] for name in benchmarks])
    prompt_info = model_run.dir / "prompt.json"
    entry["prompt"] = json.loads(prompt_info.read_text()) if prompt_info.exists() else None
    return entry, values


def _uncertainty_record(args: argparse.Namespace) -> dict:
    """How the intervals were made, as results.json and sweep.md record it."""
    return {"method": "percentile bootstrap over problems", "unit": "problem, its k samples resampled together",
            "average": "benchmarks resampled independently (stratified)", "level": args.ci_level,
            "resamples": args.ci_resamples, "seed": args.ci_seed}


def _analyse(args: argparse.Namespace, values: dict[str, dict[str, object]]) -> dict:
    """Intervals and paired comparisons from ``{model: {benchmark: problem values}}``."""
    by_benchmark = {name: {label: per[name] for label, per in values.items()} for name in next(iter(values.values()))}
    return analyse(by_benchmark, seed=args.ci_seed, resamples=args.ci_resamples, level=args.ci_level,
                   average=AVERAGE)


def _compare(args: argparse.Namespace, specs: list[ModelSpec], benchmarks: dict[str, Benchmark], backend_name: str,
             protocol: dict) -> dict:
    """--model: every model on every benchmark, then results.json, results.md and passk.png."""
    results = {"protocol": protocol, "backend": backend_name,
               "benchmarks": {name: {"n_problems": len(b.problems), "file": str(b.path), "packaged": b.packaged,
                                     "sha256": b.sha256} for name, b in benchmarks.items()},
               "uncertainty": _uncertainty_record(args), "models": {}}
    values = {}
    for spec in specs:
        results["models"][spec.label], values[spec.label] = _evaluate(spec, args, benchmarks, backend_name)
    analysis = _analyse(args, values)
    for label, entry in results["models"].items():
        for name, metrics in entry["metrics"].items():
            metrics["ci"] = analysis["intervals"][name][label]
    results["comparisons"] = analysis["comparisons"]

    args.output_dir.mkdir(parents=True, exist_ok=True)
    write_json(args.output_dir / "results.json", results)
    write_markdown(args.output_dir / "results.md", results)
    write_plot(args.output_dir / "passk.png", results)
    print((args.output_dir / "results.md").read_text())
    print(f"[eval] wrote results.json, results.md and passk.png to {args.output_dir}")
    return results


def _run_sweep(args: argparse.Namespace, checkpoints: list[sweep.Checkpoint], benchmarks: dict[str, Benchmark],
               backend_name: str, protocol: dict) -> list[dict]:
    """--run: checkpoint after checkpoint, sweep.jsonl rewritten after each; then sweep.md and sweep.png."""
    rows = []
    for checkpoint in checkpoints:
        entry, values = _evaluate(checkpoint.spec, args, benchmarks, backend_name)
        intervals = _analyse(args, {checkpoint.spec.label: values})["intervals"]
        rows += sweep.sweep_rows(checkpoint, entry["metrics"],
                                 {name: per[checkpoint.spec.label] for name, per in intervals.items()}, args.ci_level)
        sweep.write_jsonl(args.output_dir / "sweep.jsonl", rows)
        if not args.keep_merged:
            discard_merged(checkpoint.spec, args.output_dir / "merged")  # its samples are complete
    sweep.write_markdown(args.output_dir / "sweep.md", rows, protocol, _uncertainty_record(args))
    sweep.write_plot(args.output_dir / "sweep.png", rows)
    print((args.output_dir / "sweep.md").read_text())
    print(f"[eval] wrote sweep.jsonl, sweep.md and sweep.png to {args.output_dir}")
    return rows


def run(args: argparse.Namespace) -> dict | list[dict]:
    # Everything that can be checked without a model is checked first: a bad flag fails in seconds, not hours.
    template_kwargs(args.prompt_format, args.enable_thinking)  # chatml with --enable-thinking true/false is an error
    if (problem := output_dir_problem(args.output_dir)) is not None:
        raise UsageError(problem)
    if args.model and (args.every is not None or args.keep_merged):
        raise UsageError(f"{'--every' if args.every is not None else '--keep-merged'} only applies to --run")
    benchmarks = {name: load_benchmark(name, args.data_dir) for name in parse_benchmark_names(args.benchmarks)}
    if args.run:
        checkpoints = [checkpoint for name, path in sweep.parse_runs(args.run).items()
                       for checkpoint in sweep.find_checkpoints(name, path, args.every or 1)]
        specs = [checkpoint.spec for checkpoint in checkpoints]
    else:
        specs = parse_model_specs(args.model)
        check_hub_models(specs)
    backend_name, reason = choose_backend(args.backend, args.device)
    print(f"[eval] backend: {backend_name} ({reason})")
    if backend_name == "vllm" and args.device not in ("auto", "cuda"):
        print(f"[eval] note: --device {args.device} is ignored by vllm; select GPUs with CUDA_VISIBLE_DEVICES")
    for benchmark in benchmarks.values():
        origin = "packaged" if benchmark.packaged else "from --data-dir"
        print(f"[eval] {benchmark.name}: {len(benchmark.problems)} problems, {benchmark.path} ({origin})")

    protocol = {
        "k": args.k, "max_tokens": args.max_tokens, "temperature": TEMPERATURE, "top_p": TOP_P, "top_k": TOP_K,
        "seed": args.seed, "prompt_format": args.prompt_format, "enable_thinking": args.enable_thinking,
        "instruction": INSTRUCTION, "stop": list(STOP_STRINGS), "greedy": args.greedy,
        # How the samples are drawn: the same seeds give other samples with another backend, dtype or scheme.
        "backend": backend_name, "dtype": sampling_dtype(backend_name, args.dtype, args.device), "sampler": SAMPLER,
    }
    # A larger --k or --greedy on a rerun only adds samples, so neither has to match what is on disk.
    same_samples = {key: value for key, value in protocol.items() if key not in ("k", "greedy")}
    files = {name: {"file": str(b.path), "sha256": b.sha256} for name, b in benchmarks.items()}
    for spec in specs:  # before any sampling, so a clash on the last model does not surface hours later
        model_dir = args.output_dir / "samples" / spec.label
        for name in benchmarks:  # without protocol.json (deleted), the seed each stored sample records
            for path in sample_files(model_dir, name):
                if path.exists() and not (model_dir / "protocol.json").exists():
                    SampleStore(path).check_seeds(functools.partial(sample_seed, args.seed, name))
        # Samples from before --enable-thinking existed were made without the kwarg, i.e. with "auto".
        check_protocol(model_dir, {"model": spec.location, **same_samples}, files,
                       missing_means={"enable_thinking": "auto"})
    if args.run:
        return _run_sweep(args, checkpoints, benchmarks, backend_name, protocol)
    return _compare(args, specs, benchmarks, backend_name, protocol)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except (DataError, ModelError, BackendError, StoreError, UsageError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
