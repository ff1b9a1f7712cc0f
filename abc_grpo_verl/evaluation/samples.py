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
duplicates a sample. A line cut short by a crash (the last line, without its newline) is dropped on load;
anything else malformed is an error that names the file and line, since silently skipping it would bias the scores.
Files that are rewritten rather than appended (``protocol.json``, the reports) are written atomically.
"""

import json
import os
from pathlib import Path

RECORD_FIELDS = ("id", "sample", "pred", "correct", "num_tokens", "truncated")


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
                    # An append interrupted mid-line (possibly mid-character): drop it now, so the next append starts
                    # on a fresh line.
                    print(f"[eval] {self.path}: dropping the unfinished last line {line_no} (interrupted write)")
                    self.path.write_bytes(raw[: len(raw) - len(line)])
                    return
                what = "not UTF-8 text" if isinstance(e, UnicodeDecodeError) else "not valid JSON"
                raise StoreError(f"{self.path}, line {line_no}: {what}; fix or delete the line") from None
            if not isinstance(record, dict):
                raise StoreError(f"{self.path}, line {line_no}: not a JSON object; fix or delete the line")
            missing = [field for field in RECORD_FIELDS if field not in record]
            if missing:
                raise StoreError(f"{self.path}, line {line_no}: missing field {missing[0]!r}")
            key = (record["id"], record["sample"])
            if key in self.records:
                raise StoreError(f"{self.path}, line {line_no}: sample {key[1]} of problem {key[0]!r} appears twice")
            self.records[key] = record
        if raw and not complete:
            # The last line parsed but lost its newline: restore it before appending.
            with self.path.open("ab") as f:
                f.write(b"\n")

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


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` so that a reader (or a rerun after a kill) sees the old file or the new one, never a
    mix: a temporary file beside it, fsynced, then renamed over it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


def check_protocol(model_dir: Path, protocol: dict, missing_means: dict | None = None) -> None:
    """Refuse to mix samples produced under different settings into one result; record the settings otherwise.

    `missing_means` gives the value a setting had in protocol files written before that setting was recorded.
    """
    path = Path(model_dir) / "protocol.json"
    if path.exists():
        try:
            recorded = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            recorded = None
        if not isinstance(recorded, dict):
            # Versions before the atomic write could leave it empty or cut short when killed while writing it.
            raise StoreError(
                f"{path} is empty or not a JSON object (a run killed while writing it leaves this), so the settings "
                "of the samples beside it are unknown: delete it if you know they were made with the current "
                "settings (the next run records them again), otherwise use another --output-dir"
            )
        stored = {**(missing_means or {}), **recorded}
        changed = {key: (stored.get(key), value) for key, value in protocol.items() if stored.get(key) != value}
        if changed:
            details = ", ".join(f"{key}: {old!r} there, {new!r} now" for key, (old, new) in changed.items())
            raise StoreError(
                f"{path} records samples made with other settings ({details}); use another --output-dir, "
                "or the same settings to resume"
            )
        return
    write_atomic(path, json.dumps(protocol, indent=1))
