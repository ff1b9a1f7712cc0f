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
such local path exists. ``NAME=PATH`` sets the label used in the reports. A Hub id must be in the local Hugging Face
cache or on a reachable Hub (`check_hub_models`), checked before any model is loaded.

An FSDP checkpoint is merged with verl's own model merger (the code behind ``python -m verl.model_merger merge
--backend fsdp``) into a cache directory, once: the merged copy is reused while the shard files are unchanged.
The merger runs on CPU. A checkpoint that also holds the full Hugging Face model (verl's
``checkpoint.save_contents`` with ``hf_model`` writes it to ``actor/huggingface/``) is loaded from there, unmerged.
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
# How long the Hub may take to say whether a model exists.
HUB_TIMEOUT_S = 10
# Written last into a merged directory: which shard files it was merged from (name, size, mtime).
MERGE_MARKER = "abc_grpo_merge_source.json"


class ModelError(ValueError):
    """A --model value that cannot be evaluated; the message says what was expected."""


@dataclass(frozen=True)
class ModelSpec:
    """One ``--model``: its report label, the value given, and what it was detected to be."""

    label: str
    given: str
    # "hf" (local directory), "hub" (Hub id), "verl_fsdp" (an actor checkpoint to merge) or "verl_hf" (an actor
    # checkpoint's huggingface/ directory holding the full model)
    kind: str
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


def _has_weights(path: Path) -> bool:
    return (path / "config.json").is_file() and any(any(path.glob(pattern)) for pattern in WEIGHT_GLOBS)


def detect_model(given: str, flag: str = "--model") -> tuple[str, str]:
    """(kind, location) for a --model value; a ModelError naming the value when it is none of the accepted forms."""
    path = Path(given).expanduser()
    if not path.exists():
        head = Path(given.split("/")[0]).expanduser()
        if HUB_ID.fullmatch(given) and not head.is_dir():
            return "hub", given
        why = (f"{head}/ exists here, so this is a local path, not a Hub id; check the spelling" if head.is_dir() and
               HUB_ID.fullmatch(given) else "expected a Hugging Face model directory, a verl checkpoint directory "
               "such as .../global_step_N/actor, or a Hub id org/name")
        raise ModelError(f"{flag} {given}: no such directory ({why})")
    if not path.is_dir():
        raise ModelError(f"{flag} {given}: not a directory")
    for candidate in (path, path / "actor"):
        if candidate.is_dir() and _is_fsdp_checkpoint(candidate):
            if _has_weights(candidate / "huggingface"):
                return "verl_hf", str((candidate / "huggingface").resolve())
            _check_fsdp_checkpoint(candidate)
            return "verl_fsdp", str(candidate.resolve())
    if (path / "config.json").is_file():
        if not _has_weights(path):
            raise ModelError(f"{flag} {given}: has config.json but no weights ({', '.join(WEIGHT_GLOBS)})")
        return "hf", str(path.resolve())
    if (path / "model" / "dist_ckpt").is_dir() or (path / "actor" / "model" / "dist_ckpt").is_dir():
        raise ModelError(
            f"{flag} {given}: a verl Megatron checkpoint; merge it first with `python -m verl.model_merger merge "
            "--backend megatron --local_dir ... --target_dir ...` and pass the merged directory"
        )
    raise ModelError(
        f"{flag} {given}: neither a Hugging Face model directory (config.json + weights) nor a verl FSDP checkpoint "
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


def check_hub_models(specs: list[ModelSpec]) -> None:
    """Every Hub id must be in the local Hugging Face cache or on a reachable Hub; else a ModelError naming the
    --model value, said before any model is loaded (a mistyped local path such as ``runs/abc_typo`` looks like one)."""
    hub = [spec for spec in specs if spec.kind == "hub"]
    if not hub:
        return
    from huggingface_hub import HfApi, constants, try_to_load_from_cache
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    for spec in hub:
        if isinstance(try_to_load_from_cache(spec.location, "config.json"), str):
            continue
        where = (f"--model {spec.given}: no such local directory, and the Hub id {spec.location!r} is not in the "
                 f"local Hugging Face cache ({constants.HF_HUB_CACHE})")
        if constants.HF_HUB_OFFLINE:
            raise ModelError(f"{where} while HF_HUB_OFFLINE is set; pass a local directory, or download the model "
                             "where there is network")
        try:
            HfApi().model_info(spec.location, timeout=HUB_TIMEOUT_S)
        except GatedRepoError:
            continue  # it exists; loading it needs the user's token, which from_pretrained reads the same way
        except RepositoryNotFoundError:
            raise ModelError(f"{where}, and the Hub has no model {spec.location!r} (or it is private and no token is "
                             "set); check the spelling, or pass a local directory") from None
        except HfHubHTTPError as e:
            raise ModelError(f"{where}, and the Hub answered with an error ({e})") from None
        except Exception as e:  # no network: DNS failure, refused connection, timeout (httpx or requests by version)
            raise ModelError(f"{where}, and the Hub cannot be reached ({type(e).__name__}: {e}); without network, "
                             "pass a local directory (a local path with a typo looks like a Hub id)") from None


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
    """A path or Hub id that ``from_pretrained`` (and vLLM) can load; merges a verl FSDP checkpoint first."""
    if spec.kind == "verl_fsdp":
        return str(merge_fsdp_checkpoint(spec.location, Path(merge_root) / spec.label))
    return spec.location


def discard_merged(spec: ModelSpec, merge_root: Path) -> None:
    """Delete the merged copy `materialize` made of a verl FSDP checkpoint, if any (a sweep's disk would otherwise
    hold one full model per checkpoint); a later `materialize` merges again."""
    target = Path(merge_root) / spec.label
    if spec.kind == "verl_fsdp" and target.is_dir():
        shutil.rmtree(target)
        print(f"[eval] deleted the merged copy {target} (its samples are complete; --keep-merged keeps it)")
