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
"""Generation backends behind one interface: vLLM (GPU, the default when importable) and Hugging Face ``generate``.

Both take already-tokenized prompts, so they see the same token ids, and both stop on the paper's stop strings
``</s>``, ``<|im_end|>``, ``<|endoftext|>`` (and the tokenizer's EOS). Randomness is per sample in both:
- vLLM: one request per sample with its own seed;
- HF: every row of a ``generate`` batch draws its tokens from its own ``torch.Generator`` seeded with the sample's
  seed (`PerSampleSampling`), where HF's own sampling would draw the whole batch from the global RNG.
So the random draws of a sample do not depend on which other samples share its batch, and a resumed run draws what
an uninterrupted one does (on the same hardware and library versions; GPU kernels may round the logits of a row
differently in another batch shape, which can change a draw that falls on a boundary).
"""

import gc
import hashlib
import importlib.util
from dataclasses import dataclass

import torch

STOP_STRINGS = ("</s>", "<|im_end|>", "<|endoftext|>")
BACKENDS = ("auto", "vllm", "hf")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# The sampling scheme: how a sample's seed is derived (`sample_seed`) and how each backend draws from it (vLLM: one
# request per sample with its seed; HF: `PerSampleSampling`). Recorded in protocol.json, so that a resume never mixes
# samples drawn one way with samples drawn another; change it whenever either changes what a seed draws.
SAMPLER = "per-sample-seed/1"


class BackendError(ValueError):
    """A backend/device/dtype choice that cannot work here."""


@dataclass(frozen=True)
class SamplingSpec:
    """Decoding settings; temperature 0 means greedy (top_p and top_k are then unused)."""

    temperature: float
    top_p: float
    top_k: int
    max_tokens: int

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass(frozen=True)
class Completion:
    text: str
    num_tokens: int  # generated tokens, the stop token included when there is one
    truncated: bool  # stopped by the max-token budget rather than a stop token


def sample_seed(seed: int, benchmark: str, problem_id: str, index: int) -> int:
    """A seed per (benchmark, problem, sample): the same on every rerun, unrelated between samples."""
    digest = hashlib.sha256(f"{seed}/{benchmark}/{problem_id}/{index}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def vllm_importable() -> bool:
    # find_spec looks vllm up without importing it (importing vllm initialises CUDA machinery).
    return importlib.util.find_spec("vllm") is not None


def choose_backend(requested: str, device: str) -> tuple[str, str]:
    """(backend name, why): the choice printed at start-up."""
    if requested not in BACKENDS:
        raise BackendError(f"--backend must be one of {BACKENDS}, got {requested!r}")
    if requested == "hf":
        return "hf", "--backend hf"
    if requested == "vllm":
        if device == "cpu":
            raise BackendError("--backend vllm needs a GPU; --device cpu only works with --backend hf")
        if not vllm_importable():
            raise BackendError(
                "--backend vllm: vllm is not installed (pip install 'abc-grpo-verl[vllm]'); or use --backend hf"
            )
        return "vllm", "--backend vllm"
    if device == "cpu":
        return "hf", "--device cpu"
    if not vllm_importable():
        return "hf", "vllm is not importable"
    if not torch.cuda.is_available():
        return "hf", "vllm is installed but no CUDA device is visible"
    return "vllm", "vllm is importable and a CUDA device is visible"


def resolve_device(device: str) -> str:
    """``auto`` -> cuda when available, else cpu; an explicit cuda device must exist."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return device
    if device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise BackendError(f"--device {device}: no CUDA device is visible; use --device cpu")
        index = device.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise BackendError(f"--device {device}: valid CUDA indices are 0..{torch.cuda.device_count() - 1}")
        return device
    raise BackendError(f"--device must be auto, cpu, cuda or cuda:N, got {device!r}")


def resolve_dtype(dtype: str, device: str) -> torch.dtype:
    """``auto`` -> bfloat16 on GPU (what verl trains and saves in), float32 on CPU (bf16 matmuls are slow there)."""
    if dtype == "auto":
        return torch.float32 if device == "cpu" else torch.bfloat16
    if dtype not in DTYPES:
        raise BackendError(f"--dtype must be auto or one of {tuple(DTYPES)}, got {dtype!r}")
    return DTYPES[dtype]


def sampling_dtype(backend: str, dtype: str, device: str = "auto") -> str:
    """The dtype the model will run in, as recorded with its samples, found without loading anything: hf resolves
    ``auto`` on `device` here (see `resolve_dtype`); for vllm ``auto`` is the checkpoint's own dtype as vLLM reads
    it, fixed by the model, so it is recorded as ``auto``."""
    if backend == "hf":
        return str(resolve_dtype(dtype, resolve_device(device))).removeprefix("torch.")
    if dtype != "auto" and dtype not in DTYPES:
        raise BackendError(f"--dtype must be auto or one of {tuple(DTYPES)}, got {dtype!r}")
    return dtype


def _cut_at_stop_string(text: str) -> tuple[str, bool]:
    """Text up to the first stop string (vLLM does this itself), and whether one was found."""
    cut = min((i for i in (text.find(s) for s in STOP_STRINGS) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


class PerSampleSampling:
    """Sampling with one random stream per row: a logits processor for ``generate`` in greedy mode.

    The scores are warped by HF's own temperature, top-k and top-p warpers (those HF's sampling would apply, in its
    order), then each row draws its token by inverting the CDF of its probabilities with one uniform number from its
    own generator, and every other token is set to -inf, so that ``generate``'s argmax picks the drawn token. The
    distribution is HF's sampling distribution; only the source of randomness differs.
    """

    def __init__(self, seeds: list[int], spec: SamplingSpec):
        from transformers import LogitsProcessorList
        from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

        warpers = []
        if spec.temperature != 1.0:
            warpers.append(TemperatureLogitsWarper(spec.temperature))
        if spec.top_k:
            warpers.append(TopKLogitsWarper(top_k=spec.top_k))
        if spec.top_p < 1.0:
            warpers.append(TopPLogitsWarper(top_p=spec.top_p))
        self.warpers = LogitsProcessorList(warpers)
        self.generators = [torch.Generator().manual_seed(seed) for seed in seeds]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        probs = self.warpers(input_ids, scores).softmax(dim=-1)
        uniform = torch.cat([torch.rand(1, generator=g, dtype=torch.float64) for g in self.generators])
        cdf = probs.double().cumsum(dim=-1)
        target = (uniform.to(cdf.device) * cdf[:, -1]).unsqueeze(1)
        tokens = torch.searchsorted(cdf, target, right=True).squeeze(1)
        # u * total can round up to total: fall back to the last token with a nonzero probability.
        last_nonzero = probs.shape[-1] - 1 - (probs > 0).flip(-1).int().argmax(dim=-1)
        tokens = torch.minimum(tokens, last_nonzero)
        chosen = torch.full_like(scores, -float("inf"))
        return chosen.scatter_(1, tokens.unsqueeze(1), 0.0)


class HFBackend:
    """Batched ``model.generate`` on CPU or GPU, with left padding."""

    name = "hf"

    def __init__(self, model_path: str, tokenizer, device: str = "auto", dtype: str = "auto"):
        from transformers import AutoModelForCausalLM

        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.tokenizer = tokenizer
        self.model = AutoModelForCausalLM.from_pretrained(model_path, dtype=self.dtype).to(self.device).eval()
        # Stop where vLLM would: the paper's stop strings that are single tokens here, and the EOS ids.
        vocab = tokenizer.get_vocab()
        stop_ids = {vocab[s] for s in STOP_STRINGS if s in vocab}
        for eos in (tokenizer.eos_token_id, self.model.generation_config.eos_token_id):
            stop_ids.update(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if not stop_ids:
            raise BackendError(f"{model_path}: the tokenizer has no EOS token and none of {STOP_STRINGS}")
        self.stop_ids = sorted(stop_ids)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.stop_ids[0]

    @torch.inference_mode()
    def generate(self, prompts: list[list[int]], seeds: list[int], spec: SamplingSpec) -> list[Completion]:
        from transformers import GenerationConfig, LogitsProcessorList

        width = max(len(p) for p in prompts)
        input_ids = torch.tensor([[self.pad_id] * (width - len(p)) + p for p in prompts], device=self.device)
        attention_mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=self.device)
        # A fresh config, so nothing from the checkpoint's generation_config.json (repetition penalty, ...) leaks in.
        # Greedy mode either way: sampling happens in PerSampleSampling, row by row.
        config = GenerationConfig(
            max_new_tokens=spec.max_tokens, do_sample=False, eos_token_id=self.stop_ids, pad_token_id=self.pad_id
        )
        processors = LogitsProcessorList([] if spec.greedy else [PerSampleSampling(seeds, spec)])
        output = self.model.generate(input_ids=input_ids, attention_mask=attention_mask, generation_config=config,
                                     logits_processor=processors)
        completions = []
        for row in output[:, width:].tolist():
            stop_at = next((i for i, token in enumerate(row) if token in self.stop_ids), None)
            tokens = row if stop_at is None else row[: stop_at + 1]
            text, cut = _cut_at_stop_string(self.tokenizer.decode(tokens, skip_special_tokens=True))
            completions.append(Completion(text=text, num_tokens=len(tokens), truncated=stop_at is None and not cut))
        return completions

    def close(self) -> None:
        del self.model
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


class VLLMBackend:
    """vLLM offline inference: one request per sample (n = 1) with a per-sample seed, as in the authors' eval."""

    name = "vllm"

    def __init__(self, model_path: str, dtype: str = "auto", seed: int = 0):
        from vllm import LLM

        self.llm = LLM(model=model_path, dtype=sampling_dtype(self.name, dtype), seed=seed)

    def generate(self, prompts: list[list[int]], seeds: list[int], spec: SamplingSpec) -> list[Completion]:
        from vllm import SamplingParams

        if spec.greedy:
            params = [SamplingParams(n=1, temperature=0.0, max_tokens=spec.max_tokens, stop=list(STOP_STRINGS))]
            params = params * len(prompts)
        else:
            params = [
                SamplingParams(
                    n=1,
                    temperature=spec.temperature,
                    top_p=spec.top_p,
                    top_k=spec.top_k,
                    min_p=0.0,
                    max_tokens=spec.max_tokens,
                    stop=list(STOP_STRINGS),
                    seed=seed,
                )
                for seed in seeds
            ]
        outputs = self.llm.generate([{"prompt_token_ids": p} for p in prompts], params, use_tqdm=False)
        return [
            Completion(text=o.outputs[0].text, num_tokens=len(o.outputs[0].token_ids),
                       truncated=o.outputs[0].finish_reason == "length")
            for o in outputs
        ]

    def close(self) -> None:
        # Best effort: vLLM does not always hand all GPU memory back inside one process (see docs/evaluation.md).
        del self.llm
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def make_backend(name: str, model_path: str, tokenizer, device: str, dtype: str, seed: int):
    if name == "hf":
        return HFBackend(model_path, tokenizer, device=device, dtype=dtype)
    if name == "vllm":
        return VLLMBackend(model_path, dtype=dtype, seed=seed)
    raise BackendError(f"unknown backend {name!r}; valid: {BACKENDS[1:]}")
