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
"""What the training-dynamics report checks in the logs it reads and in the runs it overlays.

Logged values: a number written as a string, or one too large to be a metric, is an error naming the file; NaN or
infinity (a diverged run) is kept apart so that the report can say from which step and never show an earlier value
as final. Overlays: runs of very different length or model size, and panels whose runs differ in scale by more than
10x (drawn on a symmetric log scale then, so that every run stays visible).
"""

import math
import re
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

# Beyond this a value is no training metric (a loss, a share, a norm, even a cumulative token count stays far
# below) but an overflow in the logging; kept out, it would overflow numpy's sums into inf.
MAX_MAGNITUDE = 1e100
SCALE_RATIO = 10.0  # runs on one panel further apart than this are drawn on a log scale
LENGTH_RATIO = 3.0  # runs whose last steps are further apart than this are overlaid with a warning
# a model size in a run's label or path: "4B", "Qwen3-1.7B-Base", "qwen3_8b_gsm8k"
MODEL_SIZE = re.compile(r"(?<![A-Za-z0-9.])(\d+(?:\.\d+)?)[bB](?![A-Za-z0-9])")


class LogError(ValueError):
    """A log the report cannot read; the message names the file and what was expected."""


def metric_value(path, where: str, key: str, value) -> float | None:
    """A logged value as a float (NaN and infinity included), or None for what is not a metric (booleans, text,
    lists). A number written as a string, or one beyond ±MAX_MAGNITUDE, is a LogError naming the file."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return value
        if abs(value) > MAX_MAGNITUDE:
            shown = repr(value) if len(repr(value)) <= 24 else repr(value)[:20] + "..."
            raise LogError(f"{path} {where}: {key} = {shown} is beyond ±{MAX_MAGNITUDE:.0e}, not a training "
                           "metric (an overflow where the log was written?)")
        return float(value)
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return None  # text (a name, a path): not a metric
        raise LogError(f"{path} {where}: {key} is the string {value!r}, not a number; a metric must be a JSON number")
    return None


class Values:
    """Reads one file's logged values through `metric_value`. A bad value (a number written as a string, one beyond
    ±MAX_MAGNITUDE) under a key the report uses is a LogError; under a key it never reads it is left out, and
    `warn` says so once per file: the report need not refuse a log over a value it would not show."""

    def __init__(self, path, used: Callable[[str], bool]):
        self.path, self.used, self.ignored = path, used, []

    def of(self, where: str, record: dict, skip: tuple[str, ...] = ()) -> dict[str, float]:
        """`record`'s metric values as floats, NaN and infinity kept (see `finite_curve`)."""
        values = {}
        for key, value in record.items():
            if key in skip:
                continue
            try:
                number = metric_value(self.path, where, key, value)
            except LogError as err:
                if self.used(key):
                    raise
                self.ignored.append(str(err))
                continue
            if number is not None:
                values[key] = number
        return values

    def warn(self) -> None:
        if self.ignored:
            more = f" (and {len(self.ignored) - 1} more)" if len(self.ignored) > 1 else ""
            print(f"warning: left out, under a key the report does not read: {self.ignored[0]}{more}",
                  file=sys.stderr)


def split_finite(points: list[tuple]) -> tuple[list[tuple], float | None, int]:
    """(the points whose values are all finite, the x from which every later point is NaN/inf, or None if the last
    point is finite, and how many points were not finite)."""
    finite = [p for p in points if all(math.isfinite(v) for v in p[1:])]
    bad = len(points) - len(finite)
    diverged = None
    for point in reversed(points):
        if all(math.isfinite(v) for v in point[1:]):
            break
        diverged = point[0]
    return finite, diverged, bad


def model_size(text: str) -> float | None:
    """The model size in billions named in a label or path ("4B", "Qwen3-1.7B-Base", "qwen3_8b_..."), if any."""
    sizes = {float(match) for match in MODEL_SIZE.findall(text)}
    return sizes.pop() if len(sizes) == 1 else None


def overlay_warnings(runs) -> list[str]:
    """Warnings for one figure's runs: very different lengths, different Q1..Q4 bands, different model sizes (read
    from labels/paths)."""
    warnings = []
    ends = {}
    for run in runs:
        keys = run.metric_keys()
        if keys:
            ends[run.label] = max(c.x[-1] for key in keys for c in run.curves(key))
    if len(ends) > 1 and min(ends.values()) > 0 and max(ends.values()) / min(ends.values()) > LENGTH_RATIO:
        listed = ", ".join(f"{label} ends at step {end:g}" for label, end in ends.items())
        warnings.append(f"runs of very different length overlaid ({listed}): on shared step axes the shorter runs "
                        "occupy a corner, and windows such as the last 10% cover different phases of training")
    bands = {run.label: run.band for run in runs if run.band is not None}
    if len(set(bands.values())) > 1:
        listed = "; ".join(f"{label}: {', '.join(f'{eps:g}' for eps in band)}" for label, band in bands.items())
        warnings.append(f"runs whose Q1..Q4 bands differ overlaid (ε1..ε4 of {listed}): their quadrant shares count "
                        "different tokens; give a baseline its ABC run's band (the CLIP_* knobs of the recipes)")
    sizes = {}
    for run in runs:
        if (size := model_size(f"{run.label} {run.source}")) is not None:
            sizes.setdefault(size, []).append(run.label)
    if len(sizes) > 1:
        listed = "; ".join(f"{size:g}B: {', '.join(labels)}" for size, labels in sizes.items())
        warnings.append(f"runs of different model sizes overlaid ({listed}, read from their labels and paths): "
                        "entropy, lengths and clipping differ with the model, not only with the method")
    return warnings


def scale(values: np.ndarray) -> float:
    """A curve's typical magnitude: the 90th percentile of its nonzero finite |values| (0 if it has none)."""
    magnitudes = np.abs(values[np.isfinite(values)])
    magnitudes = magnitudes[magnitudes > 0]
    return float(np.percentile(magnitudes, 90)) if len(magnitudes) else 0.0


def spread_of_scales(scales: list[float]) -> float:
    """How far apart the runs' scales on one panel are (largest / smallest nonzero; 1 with fewer than two)."""
    positive = [s for s in scales if s > 0]
    return max(positive) / min(positive) if len(positive) > 1 else 1.0


def make_output_dir(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise LogError(f"--output-dir {path}: is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise LogError(f"--output-dir {path}: cannot create it ({err.strerror or err})") from err
