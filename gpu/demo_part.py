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
"""Demo part: `python -m abc_grpo_verl.demo` through its own `main(argv)`, on the harness's device.

On the GPU it runs a larger model and more seeds than the CPU default, a second data point for what ABC changes.
The part keeps the demo's own summary (its "Results" section goes into the report) and the paths of its outputs,
which gpu/check.py copies next to the report.
"""

import re
import time
from pathlib import Path

import torch


def results_section(summary: str) -> str:
    """The demo summary's "## Results" section (the whole summary if it has none, e.g. after a refactor)."""
    match = re.search(r"^## Results.*?(?=^## |\Z)", summary, flags=re.M | re.S)
    return (match.group(0) if match else summary).strip()


def run(settings, result):
    device = settings["device"]
    if device == "cuda" and not torch.cuda.is_available():
        return result.skip("--device cuda, but torch.cuda.is_available() is False")
    from abc_grpo_verl import demo

    output_dir = Path(settings["work_dir"]) / "demo"
    argv = [*settings["demo"]["args"], "--device", device, "--output-dir", str(output_dir)]
    result.data["argv"] = ["python", "-m", "abc_grpo_verl.demo", *argv]
    result.save()
    start = time.perf_counter()
    demo.main(argv)
    result.data["wall_s"] = time.perf_counter() - start
    summary = (output_dir / "summary.md").read_text()
    result.data["results_section"] = results_section(summary)
    result.data["files"] = {name: str(output_dir / name) for name in ("summary.md", "dynamics.png", "metrics.jsonl")
                            if (output_dir / name).is_file()}
    result.data["records"] = len((output_dir / "metrics.jsonl").read_text().splitlines())
