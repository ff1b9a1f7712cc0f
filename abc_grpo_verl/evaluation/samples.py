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
"""Resumable per-sample storage: one JSONL file per model and benchmark, appended batch by batch.

A record is keyed by (problem id, sample index); a rerun generates only the keys that are missing, so it never
duplicates a sample. A line cut short by a crash (the last line, without its newline) is cut off the file on load;
anything else malformed is an error that names the file and line, since silently skipping it would bias the scores.
Files that are rewritten rather than appended (``protocol.json``, the reports) are written atomically, through a
temporary file of their own, so that processes sharing an output directory never write into each other's.

``protocol.json``, beside a model's samples, records what shaped them: the settings, the backend, dtype and sampling
scheme, and for each benchmark the file its problems came from (path and SHA-256). A run whose samples would be
shaped differently, or whose benchmark file differs, is refused before any model loads (`check_protocol`).
"""

import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path

RECORD_FIELDS = ("id", "sample", "pred", "correct", "num_tokens", "truncated")
# What each field must hold (checked on load: a hand-edited "false" would otherwise count as correct, or fail deep
# in the metrics); "seed" is optional, as early versions did not write it.
FIELD_TYPES = {"id": (str, "a string"), "sample": (int, "an integer"), "pred": ((str, type(None)), "a string or null"),
               "correct": (bool, "true or false"), "num_tokens": (int, "an integer"),
               "truncated": (bool, "true or false"), "seed": (int, "an integer")}


class StoreError(ValueError):
    """A samples file or protocol file that does not match what this run expects."""


class SampleStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.records: dict[tuple[str, int], dict] = {}
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        raw = self.path.read_bytes()
        complete = raw.endswith(b"\n")
        lines = raw.split(b"\n")
        if complete:
            lines.pop()
        for line_no, line in enumerate(lines, start=1):
            try:
                record = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                if line_no == len(lines) and not complete:
                    # An append interrupted mid-line (possibly mid-character): cut it off now, so the next append
                    # starts on a fresh line. Truncating touches nothing before the cut, so a kill right here cannot
                    # cost the complete samples (rewriting the file could).
                    print(f"[eval] {self.path}: dropping the unfinished last line {line_no} (interrupted write)")
                    os.truncate(self.path, len(raw) - len(line))
                    return
                what = "not UTF-8 text" if isinstance(e, UnicodeDecodeError) else "not valid JSON"
                raise StoreError(f"{self.path}:{line_no}: {what}; fix or delete the line") from None
            if not isinstance(record, dict):
                raise StoreError(f"{self.path}:{line_no}: not a JSON object; fix or delete the line")
            missing = [field for field in RECORD_FIELDS if field not in record]
            if missing:
                raise StoreError(f"{self.path}:{line_no}: missing field {missing[0]!r}")
            for field, (kinds, what) in FIELD_TYPES.items():
                value = record.get(field, 0)
                if not isinstance(value, kinds) or (isinstance(value, bool) and kinds is int):
                    raise StoreError(f"{self.path}:{line_no}: field {field!r} is {json.dumps(value)}, not {what}; "
                                     "fix or delete the line")
            key = (record["id"], record["sample"])
            if key in self.records:
                raise StoreError(f"{self.path}:{line_no}: sample {key[1]} of problem {key[0]!r} appears twice")
            self.records[key] = record
        if raw and not complete:
            # The last line parsed but lost its newline: restore it before appending.
            with self.path.open("ab") as f:
                f.write(b"\n")

    def check_seeds(self, seed_of: Callable[[str, int], int]) -> None:
        """Each stored sample must have been drawn with the seed `seed_of(id, sample)` gives: samples of another
        --seed would otherwise be reused and reported under this one (a protocol.json that records the seed may be
        gone). Records without a seed (early versions) are taken as they are."""
        for (problem_id, index), record in self.records.items():
            seed = seed_of(problem_id, index)
            if record.get("seed", seed) != seed:
                raise StoreError(
                    f"{self.path}: sample {index} of problem {problem_id!r} was drawn with seed {record['seed']}, but "
                    f"this run's --seed gives it seed {seed}: the samples there come from another --seed; use that "
                    "--seed to resume, or another --output-dir")

    def __contains__(self, key: tuple[str, int]) -> bool:
        return key in self.records

    def append(self, records: list[dict]) -> None:
        """Write `records` durably (one write, flush + fsync), then index them."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            # One write call for the whole batch: a kill rarely leaves half a batch, so a rerun cuts its batches
            # where an uninterrupted run did (the seeds are per sample; the same batches also mean the same shapes).
            f.write("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))
            f.flush()
            os.fsync(f.fileno())
        for record in records:
            self.records[(record["id"], record["sample"])] = record

    def table(self, problem_ids: list[str], n: int, field: str) -> list[list]:
        """``[problem][sample]`` values of `field` for the first `n` samples, in the order of `problem_ids`."""
        missing = [(pid, j) for pid in problem_ids for j in range(n) if (pid, j) not in self.records]
        if missing:
            pid, j = missing[0]
            raise StoreError(f"{self.path}: {len(missing)} samples missing, e.g. sample {j} of problem {pid!r}")
        return [[self.records[(pid, j)][field] for j in range(n)] for pid in problem_ids]


def sample_files(model_dir: Path, benchmark: str) -> tuple[Path, Path]:
    """(sampled, greedy) samples files of one model and benchmark."""
    return Path(model_dir) / f"{benchmark}.jsonl", Path(model_dir) / f"{benchmark}.greedy.jsonl"


def write_atomic(path: Path, content: str | bytes) -> None:
    """Write `content` to `path` so that a reader (or a rerun after a kill) sees the old file or the new one, never a
    mix: a temporary file of this call's own beside it, fsynced, then renamed over it. Several processes may write
    the same path at once (one per model into a shared --output-dir): each renames a whole file, the last one wins."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    # A random name created exclusively (what tempfile.mkstemp does, but with the usual permissions, not 0600).
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def check_protocol(model_dir: Path, settings: dict, benchmarks: dict[str, dict],
                   missing_means: dict | None = None) -> None:
    """Refuse to mix samples made another way, or for another benchmark file, into one result; otherwise record the
    settings and benchmark files in ``<model_dir>/protocol.json`` (called before any sampling, so samples on disk
    always have their record).

    `settings` is what shapes the samples; each must equal its recorded value. `benchmarks` is ``{name: {"file":
    path, "sha256": hex}}`` for this run: a benchmark on record must come from a file with the same SHA-256 (the
    samples are keyed by problem id only, so samples of other problems would otherwise be scored against this
    file's answers); one not yet on record is added. `missing_means` gives the value a setting had in protocol files
    written before that setting was recorded.
    """
    path = Path(model_dir) / "protocol.json"
    if not path.exists():
        write_atomic(path, json.dumps({**settings, "benchmarks": benchmarks}, indent=1))
        return
    recorded = _read_protocol(path)
    stored = {**(missing_means or {}), **recorded}
    unrecorded = [key for key in settings if key not in stored]
    if unrecorded:
        now = ", ".join(f"{key} {settings[key]!r}" for key in unrecorded)
        raise StoreError(
            f"{path} does not record {', '.join(unrecorded)} (an older version wrote it), so whether the samples "
            f"beside it were made with {now} is unknown: delete it if you know they were (the next run records the "
            "current settings), otherwise use another --output-dir"
        )
    changed = {key: (stored[key], value) for key, value in settings.items() if stored[key] != value}
    if changed:
        details = ", ".join(f"{key}: {old!r} there, {new!r} now" for key, (old, new) in changed.items())
        raise StoreError(
            f"{path} records samples made with other settings ({details}); use another --output-dir, "
            "or the same settings to resume"
        )
    files = recorded.get("benchmarks", {})
    for name, current in benchmarks.items():
        before = files.get(name)
        on_disk = [file for file in sample_files(model_dir, name) if file.exists()]
        if not on_disk or (before is not None and before.get("sha256") == current["sha256"]):
            continue  # nothing to mix up
        if before is None:
            raise StoreError(
                f"{on_disk[0]} holds samples, but {path} does not record which file of benchmark {name!r} they were "
                f"made from (an older version wrote it): delete {path.name} if you know they were made from "
                f"{current['file']} (the next run records it), otherwise use another --output-dir"
            )
        raise StoreError(
            f"benchmark {name!r} is now {current['file']} (sha256 {current['sha256'][:12]}...), but the samples in "
            f"{model_dir} were made from {before.get('file')} (sha256 {str(before.get('sha256'))[:12]}...), whose "
            f"problems or answers differ (recorded in {path.name}); evaluate this file into another --output-dir, or "
            "pass the file the samples were made from to resume (--data-dir decides which file a benchmark name reads)"
        )
    if any(files.get(name) != current for name, current in benchmarks.items()):
        write_atomic(path, json.dumps({**recorded, "benchmarks": {**files, **benchmarks}}, indent=1))


def _read_protocol(path: Path) -> dict:
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        recorded = None
    if not isinstance(recorded, dict) or not isinstance(recorded.get("benchmarks", {}), dict):
        # Versions before the atomic write could leave it empty or cut short when killed while writing it.
        raise StoreError(
            f"{path} is empty or not a JSON object (a run killed while writing it leaves this), so the settings "
            "of the samples beside it are unknown: delete it if you know they were made with the current "
            "settings (the next run records them again), otherwise use another --output-dir"
        )
    return recorded
