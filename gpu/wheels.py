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
"""The wheels an offline GPU image (Python 3.12, torch, transformers; no verl, Ray or vLLM) lacks: download them once
on a machine with internet, check them against gpu/wheels.json.

    python gpu/wheels.py download      # make gpu-wheels: fetch into .whl/, verify hashes and requirement closure
    python gpu/wheels.py verify        # check an existing .whl/ against gpu/wheels.json
    python gpu/wheels.py lock          # check gpu/wheels.json alone (no download), closure included: what CI runs
    python gpu/wheels.py record        # after changing the list: write each wheel's Requires-Dist from .whl/ into it

The GPU machine has Python 3.12 and no network, so every wheel must be a CPython 3.12 (or pure-Python) build for
manylinux x86_64, one version per package, installed there with `pip install --no-deps` (gpu/run.sh). Their
requirements are not resolved by pip there, so they are resolved here: every requirement of every wheel (for
Python 3.12 on Linux, no extras) must be another wheel of the list, at a version it accepts, a package of the GPU
image (listed in wheels.json), or one of the packages left out on purpose, each with its reason. wheels.json records
each wheel's requirements (`requires`, its METADATA's Requires-Dist), so `lock` checks the closure without the
wheels; `verify` and `download` check that record against the wheels themselves.
"""

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.tags import compatible_tags, cpython_tags
from packaging.utils import canonicalize_name, parse_wheel_filename

HERE = Path(__file__).resolve().parent
LOCK = HERE / "wheels.json"
DEST = HERE.parent / ".whl"
MIB = 2**20


def load_lock(path: Path = LOCK) -> dict:
    return json.loads(path.read_text())


def target_tags(lock: dict) -> set:
    version = tuple(int(n) for n in lock["python"].split("."))
    interpreter = f"{lock['implementation']}{version[0]}{version[1]}"
    return {*cpython_tags(version, abis=[interpreter], platforms=lock["platforms"]),
            *compatible_tags(version, interpreter=interpreter, platforms=lock["platforms"])}


def marker_environment(lock: dict) -> dict:
    return {"python_version": lock["python"], "python_full_version": f"{lock['python']}.0", "sys_platform": "linux",
            "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
            "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": ""}


def check_lock(lock: dict) -> list[str]:
    """Problems of the list itself: a file for another Python or platform, a name or version that does not match
    its file, two versions of one package, a requirement nothing meets."""
    problems, seen, tags = [], {}, target_tags(lock)
    for entry in lock["wheels"]:
        name, version, _, file_tags = parse_wheel_filename(entry["file"])
        requirement = Requirement(entry["requirement"])
        if canonicalize_name(requirement.name) != name or not requirement.specifier.contains(version):
            problems.append(f"{entry['file']}: does not match its requirement {entry['requirement']}")
        if not file_tags & tags:
            problems.append(f"{entry['file']}: no tag installable on CPython {lock['python']} "
                            f"{lock['platforms'][0]} (tags {sorted(map(str, file_tags))})")
        if name in seen:
            problems.append(f"{name}: two versions ({seen[name]}, {version}); pip --no-deps would install both")
        seen[name] = version
    return problems + check_closure(lock)


def total_bytes(lock: dict) -> int:
    return sum(entry["bytes"] for entry in lock["wheels"])


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def requirements_of(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(name for name in archive.namelist() if name.endswith(".dist-info/METADATA"))
        text = archive.read(metadata).decode()
    return [Requirement(line.split(":", 1)[1].strip()) for line in text.splitlines()
            if line.startswith("Requires-Dist:")]


def check_closure(lock: dict) -> list[str]:
    """Every requirement a wheel declares for Python 3.12 / Linux (as recorded in the lock) is met by the list, the
    image or a stated absence."""
    pinned = {parse_wheel_filename(e["file"])[0]: parse_wheel_filename(e["file"])[1] for e in lock["wheels"]}
    image = {canonicalize_name(name) for name in lock["image"]["packages"]}
    absent = {canonicalize_name(name) for name in lock["absent_on_purpose"]}
    environment, problems = marker_environment(lock), []
    for entry in lock["wheels"]:
        if "requires" not in entry:
            problems.append(f"{entry['file']}: no `requires` in gpu/wheels.json (its METADATA's Requires-Dist)")
            continue
        for requirement in map(Requirement, entry["requires"]):
            if requirement.marker is not None and not requirement.marker.evaluate(environment):
                continue
            name = canonicalize_name(requirement.name)
            if name in pinned:
                if not requirement.specifier.contains(pinned[name], prereleases=True):
                    problems.append(f"{entry['file']} needs {requirement}, the list pins {name} {pinned[name]}")
            elif name not in image and name not in absent:
                problems.append(f"{entry['file']} needs {requirement}: neither in the list, nor on the GPU image, "
                                "nor left out on purpose")
    return problems


def verify(lock: dict, dest: Path = DEST) -> list[str]:
    """The folder holds exactly the listed wheels, byte for byte (built ones: by name), and their closure holds."""
    problems = check_lock(lock)
    present = {path.name for path in dest.glob("*.whl")}
    expected = {entry["file"] for entry in lock["wheels"]}
    problems += [f"{dest / name}: not in gpu/wheels.json (pip --no-deps would install it too)"
                 for name in sorted(present - expected)]
    problems += [f"{dest / name}: missing (run: make gpu-wheels)" for name in sorted(expected - present)]
    for entry in lock["wheels"]:
        path = dest / entry["file"]
        if path.is_file() and "built_from" not in entry and sha256(path) != entry["sha256"]:
            problems.append(f"{path}: sha256 differs from gpu/wheels.json")
        if path.is_file() and requirements_of(path) != [Requirement(r) for r in entry.get("requires", [])]:
            problems.append(f"{path}: its Requires-Dist {[str(r) for r in requirements_of(path)]} differs from the "
                            "`requires` gpu/wheels.json records (after changing a wheel: python gpu/wheels.py record)")
    return problems


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True)


def download(lock: dict, dest: Path = DEST) -> list[str]:
    """Fetch what is missing or different, build the source-only one, drop files the list does not name."""
    dest.mkdir(parents=True, exist_ok=True)
    platforms = [arg for platform in lock["platforms"] for arg in ("--platform", platform)]
    with tempfile.TemporaryDirectory() as tmp:
        for entry in lock["wheels"]:
            target = dest / entry["file"]
            if target.is_file() and ("built_from" in entry or sha256(target) == entry["sha256"]):
                continue
            if "built_from" in entry:
                source = entry["built_from"]
                pip("download", "--quiet", "--no-deps", "--no-binary=:all:", "--dest", tmp, entry["requirement"])
                if sha256(Path(tmp) / source["file"]) != source["sha256"]:
                    raise SystemExit(f"{source['file']}: sha256 differs from gpu/wheels.json")
                pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(dest), str(Path(tmp) / source["file"]))
            else:
                pip("download", "--quiet", "--no-deps", "--only-binary=:all:", "--python-version", lock["python"],
                    "--implementation", lock["implementation"], *platforms, "--dest", tmp, entry["requirement"])
                shutil.move(Path(tmp) / entry["file"], target)
    for stale in sorted({p.name for p in dest.glob("*.whl")} - {e["file"] for e in lock["wheels"]}):
        print(f"removing {dest / stale}: not in gpu/wheels.json")
        (dest / stale).unlink()
    return verify(lock, dest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("download", "verify", "lock", "record"))
    parser.add_argument("--dest", type=Path, default=DEST, help=f"wheel folder (default: {DEST})")
    args = parser.parse_args(argv)
    lock = load_lock()
    if args.action == "record":
        for entry in lock["wheels"]:
            entry["requires"] = [str(r) for r in requirements_of(args.dest / entry["file"])]
        LOCK.write_text(json.dumps(lock, indent=1, ensure_ascii=False) + "\n")
    if args.action in ("lock", "record"):
        problems = check_lock(lock)
    elif args.action == "verify":
        problems = verify(lock, args.dest)
    else:
        problems = download(lock, args.dest)
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    size = total_bytes(lock) if args.action == "lock" else sum(p.stat().st_size for p in args.dest.glob("*.whl"))
    verdict = "ok" if not problems else f"{len(problems)} problem(s)"
    print(f"{len(lock['wheels'])} wheels, {size / MIB:.1f} MiB of the {lock['carry_limit_mib']} MiB budget for the "
          f"copy: {verdict}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
