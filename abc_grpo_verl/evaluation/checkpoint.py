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
"""What ``--model`` points at, and turning a verl FSDP checkpoint into a Hugging Face model directory.

Accepted: a Hugging Face model directory (``config.json`` plus weights), a verl FSDP checkpoint directory
(``.../global_step_N/actor``, or ``.../global_step_N`` that contains ``actor/``), or a Hub id ``org/name`` when no
such local path exists. ``NAME=PATH`` sets the label used in the reports.

An FSDP checkpoint is merged with verl's own model merger (the code behind ``python -m verl.model_merger merge
--backend fsdp``) into a cache directory, once: the merged copy is reused while the shard files are unchanged.
The merger runs on CPU.
"""

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*")
LABEL = re.compile(r"[A-Za-z0-9_.-]+")
FSDP_SHARD = re.compile(r"model_world_size_(\d+)_rank_(\d+)\.pt")
WEIGHT_GLOBS = ("*.safetensors", "pytorch_model*.bin", "*.safetensors.index.json")
# Written last into a merged directory: which shard files it was merged from (name, size, mtime).
MERGE_MARKER = "abc_grpo_merge_source.json"


class ModelError(ValueError):
    """A --model value that cannot be evaluated; the message says what was expected."""


@dataclass(frozen=True)
class ModelSpec:
    """One ``--model``: its report label, the value given, and what it was detected to be."""

    label: str
    given: str
    kind: str  # "hf" (local directory), "hub" (Hub id) or "verl_fsdp" (an actor checkpoint directory)
    location: str


def _is_fsdp_checkpoint(path: Path) -> bool:
    return (path / "fsdp_config.json").is_file() or any(FSDP_SHARD.fullmatch(p.name) for p in path.glob("*.pt"))


def _check_fsdp_checkpoint(path: Path) -> None:
    """Everything verl's merger reads must be there; name the first missing piece."""
    config_file = path / "fsdp_config.json"
    if not config_file.is_file():
        raise ModelError(f"verl checkpoint {path}: {config_file.name} is missing (verl writes it on rank 0)")
    try:
        world_size = json.loads(config_file.read_text())["world_size"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ModelError(f"verl checkpoint {path}: cannot read world_size from {config_file} ({e!r})") from None
    if not isinstance(world_size, int) or world_size < 1:
        raise ModelError(
            f"verl checkpoint {path}: world_size in {config_file} must be an integer >= 1, got {world_size!r}"
        )
    missing = [f"model_world_size_{world_size}_rank_{r}.pt" for r in range(world_size)]
    missing = [name for name in missing if not (path / name).is_file()]
    if missing:
        raise ModelError(
            f"verl checkpoint {path}: model shard {missing[0]} is missing ({len(missing)} of {world_size} missing)"
        )
    if not (path / "huggingface" / "config.json").is_file():
        raise ModelError(
            f"verl checkpoint {path}: huggingface/config.json is missing; verl saves the model config and tokenizer "
            "there and the merger needs them"
        )


def detect_model(given: str) -> tuple[str, str]:
    """(kind, location) for a --model value; a ModelError naming the value when it is none of the accepted forms."""
    path = Path(given).expanduser()
    if not path.exists():
        if HUB_ID.fullmatch(given):
            return "hub", given
        raise ModelError(
            f"--model {given}: no such directory (expected a Hugging Face model directory, a verl checkpoint "
            "directory such as .../global_step_N/actor, or a Hub id org/name)"
        )
    if not path.is_dir():
        raise ModelError(f"--model {given}: not a directory")
    for candidate in (path, path / "actor"):
        if candidate.is_dir() and _is_fsdp_checkpoint(candidate):
            _check_fsdp_checkpoint(candidate)
            return "verl_fsdp", str(candidate.resolve())
    if (path / "config.json").is_file():
        if not any(any(path.glob(pattern)) for pattern in WEIGHT_GLOBS):
            raise ModelError(f"--model {given}: has config.json but no weights ({', '.join(WEIGHT_GLOBS)})")
        return "hf", str(path.resolve())
    if (path / "model" / "dist_ckpt").is_dir() or (path / "actor" / "model" / "dist_ckpt").is_dir():
        raise ModelError(
            f"--model {given}: a verl Megatron checkpoint; merge it first with `python -m verl.model_merger merge "
            "--backend megatron --local_dir ... --target_dir ...` and pass the merged directory"
        )
    raise ModelError(
        f"--model {given}: neither a Hugging Face model directory (config.json + weights) nor a verl FSDP checkpoint "
        "(fsdp_config.json + model_world_size_*_rank_*.pt, in the directory or in its actor/ subdirectory)"
    )


def _default_label(given: str, kind: str) -> str:
    """A readable label: ``run-global_step_N`` for verl checkpoints, the directory or repo name otherwise."""
    parts = [p for p in Path(given).expanduser().parts if p not in ("/", "")]
    if kind == "hub":
        return parts[-1]
    while len(parts) > 1 and parts[-1] in ("actor", "huggingface"):
        parts.pop()
    if re.fullmatch(r"global_step_\d+", parts[-1]) and len(parts) > 1:
        return f"{parts[-2]}-{parts[-1]}"
    return parts[-1]


def parse_model_specs(values: list[str]) -> list[ModelSpec]:
    """Detect every --model up front, so a typo in the last one fails before hours of sampling."""
    specs = []
    for value in values:
        label, given = None, value
        if "=" in value and not Path(value).expanduser().exists():
            label, given = value.split("=", 1)
            if not LABEL.fullmatch(label):
                raise ModelError(f"--model {value}: label {label!r} may only use letters, digits, '_', '-', '.'")
        kind, location = detect_model(given)
        label = label or re.sub(r"[^A-Za-z0-9_.-]", "_", _default_label(given, kind))
        specs.append(ModelSpec(label=label, given=given, kind=kind, location=location))
    labels = [spec.label for spec in specs]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ModelError(f"--model: several models get the label {duplicates[0]!r}; name them with NAME=PATH")
    return specs


def _shard_fingerprint(actor_dir: Path) -> dict:
    files = sorted(p for p in actor_dir.iterdir() if FSDP_SHARD.fullmatch(p.name) or p.name == "fsdp_config.json")
    return {"source": str(actor_dir), "files": {p.name: [p.stat().st_size, p.stat().st_mtime_ns] for p in files}}


def merge_fsdp_checkpoint(actor_dir: str | Path, target_dir: str | Path) -> Path:
    """Merge a verl FSDP actor checkpoint into a Hugging Face directory at `target_dir` (reused when up to date).

    The merge writes into ``<target_dir>.partial`` and renames it at the end, so an interrupted merge is never
    mistaken for a finished one.
    """
    actor_dir, target_dir = Path(actor_dir), Path(target_dir)
    fingerprint = _shard_fingerprint(actor_dir)
    marker = target_dir / MERGE_MARKER
    if marker.is_file() and json.loads(marker.read_text()) == fingerprint:
        print(f"[eval] reusing the merged model in {target_dir}")
        return target_dir

    # Imported here: verl (and ray with it) is only needed when a checkpoint has to be merged.
    from verl.model_merger.base_model_merger import ModelMergerConfig
    from verl.model_merger.fsdp_model_merger import FSDPModelMerger

    partial = target_dir.with_name(target_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    print(f"[eval] merging the verl FSDP checkpoint {actor_dir} into {target_dir} (verl.model_merger)")
    config = ModelMergerConfig(
        operation="merge",
        backend="fsdp",
        local_dir=str(actor_dir),
        target_dir=str(partial),
        hf_model_config_path=str(actor_dir / "huggingface"),
    )
    merger = FSDPModelMerger(config)
    merger.merge_and_save()
    merger.cleanup()
    if (partial / "lora_adapter").exists():
        raise ModelError(
            f"verl checkpoint {actor_dir} holds LoRA adapters only; evaluating LoRA checkpoints is not supported "
            f"(the adapter was written to {partial / 'lora_adapter'})"
        )
    (partial / MERGE_MARKER).write_text(json.dumps(fingerprint, indent=1))
    shutil.rmtree(target_dir, ignore_errors=True)
    partial.rename(target_dir)
    return target_dir


def materialize(spec: ModelSpec, merge_root: Path) -> str:
    """A path or Hub id that ``from_pretrained`` (and vLLM) can load; merges a verl checkpoint first."""
    if spec.kind == "verl_fsdp":
        return str(merge_fsdp_checkpoint(spec.location, Path(merge_root) / spec.label))
    return spec.location
