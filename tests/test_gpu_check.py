"""gpu/: the GPU check stays runnable on a CPU machine.

What CI can prove without a GPU or a download: the harness runs end to end at toy sizes on CPU, through the same
code as on the GPU (verl's FSDP2 engine over gloo, the Ray import stub instead of Ray, the demo and the evaluation),
a failing or hanging part costs no other part, and the wheel list in gpu/wheels.json is installable on CPython 3.12
for manylinux x86_64 and fits the carry limit. What it cannot prove: that the listed wheels are byte for byte on the
registry (`GPU_WHEELS_ONLINE_TEST=1` downloads and checks them; `make gpu-wheels` does so too) and that their
requirements are closed (checked on the downloaded files, where a local .whl/ exists).
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECK = ROOT / "gpu" / "check.py"
QUADRANTS = [f"actor/abc_clipfrac_q{q}" for q in range(1, 5)]


def verl_version():
    """The installed verl's own version string, read in a child so this module need not import verl (and ray)."""
    return subprocess.run([sys.executable, "-c", "import verl; print(verl.__version__)"], capture_output=True,
                          text=True, check=True).stdout.strip()


def load_wheels_module():
    spec = importlib.util.spec_from_file_location("gpu_wheels", ROOT / "gpu" / "wheels.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_check(*args, timeout=900):
    return subprocess.run([sys.executable, str(CHECK), "--device", "cpu", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def report_of(out: Path) -> dict:
    (path,) = out.glob("*.json")
    return json.loads(path.read_text())


# ---------------------------------------------------------------------------------------------------------------
# The wheel list.


def test_wheel_list_installs_on_python312_and_fits_the_carry_limit():
    wheels = load_wheels_module()
    lock = wheels.load_lock()
    assert wheels.check_lock(lock) == []
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    tree_bytes = sum((ROOT / name).stat().st_size for name in tracked.decode().split("\0")
                     if name and (ROOT / name).is_file())
    limit = lock["carry_limit_mib"] * 2**20
    # the working tree travels with the wheels; keep half the limit free for what a session adds
    assert tree_bytes + wheels.total_bytes(lock) < limit / 2, (tree_bytes, wheels.total_bytes(lock))
    names = [entry["requirement"].split("==")[0] for entry in lock["wheels"]]
    assert "verl" in names and "tensordict" in names and "ray" not in names
    assert set(lock["absent_on_purpose"]) >= {"ray"}


def test_requirement_closure_is_checked_from_the_list_alone():
    """Every wheel's Requires-Dist (recorded in the list) is met for Python 3.12 by the list, the GPU image or a stated
    absence; a requirement nothing meets, or a pinned version a wheel refuses, is named without any download."""
    wheels = load_wheels_module()
    lock = wheels.load_lock()
    assert all("requires" in entry for entry in lock["wheels"])
    assert wheels.check_closure(lock) == []
    entries = [dict(entry) for entry in lock["wheels"]]
    verl_entry = next(entry for entry in entries if entry["requirement"] == "verl==0.9.1")
    verl_entry["requires"] = [*verl_entry["requires"], "no-such-package>=1", "hydra-core<1.0",
                              "win-only; sys_platform == 'win32'", "old-python; python_version < '3.8'"]
    problems = wheels.check_closure(dict(lock, wheels=entries))
    assert problems == [
        "verl-0.9.1-py3-none-any.whl needs no-such-package>=1: neither in the list, nor on the GPU image, nor left out "
        "on purpose",
        "verl-0.9.1-py3-none-any.whl needs hydra-core<1.0, the list pins hydra-core 1.3.8",
    ]  # the markers that are false on Python 3.12 / Linux are not requirements there


def test_wheel_list_checker_catches_what_pip_would_refuse(tmp_path):
    wheels = load_wheels_module()
    lock = wheels.load_lock()
    bad = dict(lock, wheels=[
        {"requirement": "tensordict==0.10.0", "file": "tensordict-0.10.0-cp311-cp311-manylinux_2_28_x86_64.whl",
         "bytes": 1, "sha256": "0"},
        {"requirement": "dill==0.4.1", "file": "dill-0.4.1-py3-none-any.whl", "bytes": 1, "sha256": "0"},
        {"requirement": "dill==0.4.0", "file": "dill-0.4.0-py3-none-any.whl", "bytes": 1, "sha256": "0"},
        {"requirement": "orjson==3.13.0", "file": "orjson-3.13.0-cp312-cp312-macosx_11_0_arm64.whl", "bytes": 1,
         "sha256": "0"},
        {"requirement": "codetiming==1.4.1", "file": "codetiming-1.4.0-py3-none-any.whl", "bytes": 1, "sha256": "0"},
    ])
    problems = "\n".join(wheels.check_lock(bad))
    assert "tensordict-0.10.0-cp311" in problems and "no tag installable on CPython 3.12" in problems
    assert "dill: two versions" in problems
    assert "orjson-3.13.0-cp312-cp312-macosx" in problems
    assert "codetiming-1.4.0-py3-none-any.whl: does not match its requirement codetiming==1.4.1" in problems
    # a folder with a stray or missing wheel is refused before anything travels
    (tmp_path / "extra-1.0-py3-none-any.whl").write_bytes(b"")
    problems = "\n".join(wheels.verify(lock, tmp_path))
    assert "extra-1.0-py3-none-any.whl: not in gpu/wheels.json" in problems
    assert "verl-0.9.1-py3-none-any.whl: missing (run: make gpu-wheels)" in problems


@pytest.mark.skipif(not (ROOT / ".whl").is_dir(), reason="no .whl/ here (make gpu-wheels makes it)")
def test_local_wheel_folder_matches_the_list_and_its_requirements_are_closed():
    wheels = load_wheels_module()
    assert wheels.verify(wheels.load_lock()) == []


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("GPU_WHEELS_ONLINE_TEST") != "1",
                    reason="downloads ~7 MiB from the registry: set GPU_WHEELS_ONLINE_TEST=1")
def test_registry_serves_the_listed_wheels(tmp_path):
    wheels = load_wheels_module()
    assert wheels.download(wheels.load_lock(), tmp_path) == []


# ---------------------------------------------------------------------------------------------------------------
# The Ray import stub.


def test_ray_stub_covers_verl_imports_and_refuses_every_run_time_use():
    code = (
        "import ray, ray.actor, ray.util.placement_group\n"
        "class C: pass\n"
        "assert ray.remote(C) is C and ray.remote(num_gpus=1)(C) is C\n"
        "assert ray.is_initialized() is False and 'stub' in ray.__version__\n"
        "try:\n    ray.get(1)\nexcept ray.RayStubError as e:\n    print(e)\n"
        "try:\n    ray.actor.ActorHandle()\nexcept ray.RayStubError as e:\n    print(e)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "gpu" / "ray_stub")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True,
                            timeout=60)
    assert "ray.get() was called, but `ray` here is the GPU harness's import stub" in result.stdout
    assert "ray.actor.ActorHandle() was called" in result.stdout


# ---------------------------------------------------------------------------------------------------------------
# The harness, at toy sizes on CPU.


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu-check")
    result = run_check("--ray", "stub", "--out", str(out), "--work-dir", str(out / "work"), "--commit", "test")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out, report_of(out), result.stdout


@pytest.mark.slow
def test_cpu_run_writes_the_report_and_its_table(cpu_run):
    out, report, stdout = cpu_run
    stem = f"{report['meta']['date']}-test-cpu"
    assert {p.name for p in out.iterdir() if p.is_file()} == {
        f"{stem}.md", f"{stem}.json", f"{stem}.log", f"{stem}-demo-summary.md", f"{stem}-demo-dynamics.png"}
    assert {part: r["status"] for part, r in report["parts"].items()} == dict.fromkeys(
        ("loss", "actor", "demo", "eval"), "ok")
    # the harness imports the verl of this environment (0.9.1, or verl main in `make test-verl-main`)
    assert report["meta"]["ray"] == "stub (gpu/ray_stub)" and report["meta"]["env"]["verl"] == verl_version()
    markdown = (out / f"{stem}.md").read_text()
    for heading in ("## Loss", "## Actor update through verl's engine", "## Demo", "## Evaluation"):
        assert heading in markdown
    table = stdout[stdout.index("part    status"):].splitlines()
    assert [line.split()[:2] for line in table[1:]] == [[part, "ok"] for part in ("loss", "actor", "demo", "eval")]


@pytest.mark.slow
def test_cpu_run_loss_part_checks_the_compiled_path_and_times_every_loss(cpu_run):
    loss = cpu_run[1]["parts"]["loss"]["data"]
    (equality,) = loss["equality"]
    assert equality["compiled"] and equality["equal"] and equality["clipped_share"] > 0
    assert max(equality["relative_error"].values()) <= 1e-5
    rows = {row["loss"]: row for row in loss["rows"]}
    assert {"vanilla", "abc_grpo", "abc_grpo fused", "gspo"} <= set(rows)
    assert rows["vanilla"]["ratio_to_vanilla"] == 1.0 and rows["abc_grpo"]["host_syncs"] == 1


@pytest.mark.slow
def test_cpu_run_actor_update_goes_through_verls_engine(cpu_run):
    actor = cpu_run[1]["parts"]["actor"]["data"]
    assert actor["path"] == "engine" and actor["updates_done"] == 1 and actor["finite"]
    abc, vanilla = actor["all_metrics"]["abc_grpo"], actor["all_metrics"]["vanilla"]
    # the plugin's metrics came back through verl's worker: Q1..Q4 partition the clipped tokens, Q4 is the lower clip
    assert sum(abc[key] for key in QUADRANTS) == pytest.approx(abc["actor/pg_clipfrac"], rel=1e-9)
    assert abc["actor/pg_clipfrac_lower"] == pytest.approx(abc["actor/abc_clipfrac_q4"], rel=1e-9)
    assert abc["actor/abc_clipfrac_q4"] > 0 and not any(key in vanilla for key in QUADRANTS)
    assert all(key in abc for key in ("actor/grad_norm", "actor/pg_loss", "perf/mfu/actor"))
    assert "actor_rollout_ref.actor.policy_loss.loss_mode=abc_grpo" in actor["overrides"]


@pytest.mark.slow
def test_cpu_run_demo_and_evaluation(cpu_run):
    parts = cpu_run[1]["parts"]
    demo, evaluation = parts["demo"]["data"], parts["eval"]["data"]
    assert demo["records"] == 3 * 2  # three methods, two steps
    assert demo["results_section"].startswith("## Results") and "ABC-GRPO" in demo["results_section"]
    settings = cpu_run[1]["meta"]["settings"]["eval"]
    assert evaluation["samples"] == settings["problems"] * settings["k"]
    assert 0 < evaluation["tokens"] <= evaluation["samples"] * settings["max_tokens"]


@pytest.mark.slow
def test_actor_fallback_path_runs_verls_ppo_loss_on_fsdp2(tmp_path):
    result = run_check("--parts", "actor", "--set", "actor.path=fallback", "--set", "actor.layers=1",
                       "--out", str(tmp_path), "--work-dir", str(tmp_path / "work"))
    assert result.returncode == 0, result.stdout[-3000:]
    actor = report_of(tmp_path)["parts"]["actor"]["data"]
    assert actor["path"] == "fallback" and actor["finite"] and "engine_error" not in actor
    abc = actor["all_metrics"]["abc_grpo"]
    assert sum(abc[key] for key in QUADRANTS) == pytest.approx(abc["actor/pg_clipfrac"], rel=1e-9)


# ---------------------------------------------------------------------------------------------------------------
# Budgets, failures, bad input.


@pytest.mark.slow
def test_a_hanging_or_failing_part_costs_no_other_part(tmp_path):
    result = run_check("--parts", "loss,demo", "--budget", "loss=1", "--set", 'demo.args=["--no-such-flag"]',
                       "--out", str(tmp_path), "--work-dir", str(tmp_path / "work"), timeout=300)
    assert result.returncode == 1
    parts = report_of(tmp_path)["parts"]
    assert parts["loss"]["status"] == "timed out" and "1 s budget" in parts["loss"]["reason"]
    assert parts["demo"]["status"] == "failed" and "--no-such-flag" in parts["demo"]["reason"]
    assert "timed out" in result.stdout and "failed" in result.stdout


def test_parts_without_time_left_are_skipped_with_the_reason(tmp_path):
    result = run_check("--deadline-s", "5", "--out", str(tmp_path), "--work-dir", str(tmp_path / "work"),
                       timeout=60)
    assert result.returncode == 0
    parts = report_of(tmp_path)["parts"]
    assert {r["status"] for r in parts.values()} == {"skipped"}
    assert "left under the 5 s deadline" in parts["loss"]["reason"]


@pytest.mark.parametrize(("args", "message"), [
    (["--parts", "loss,bogus"], "--parts='loss,bogus' is invalid: ['bogus']"),
    (["--set", "actor.nope=1"], "--set 'actor.nope=1' is invalid: expected PART.KEY=VALUE"),
    (["--set", "actor.layers=two"], "--set 'actor.layers=two' is invalid: actor.layers takes a int (default 2)"),
    (["--budget", "eval=-3"], "--budget 'eval=-3' is invalid"),
    (["--deadline-s", "0"], "--deadline-s=0.0 is invalid"),
])
def test_bad_flags_name_the_flag_and_the_valid_values(tmp_path, args, message):
    result = run_check(*args, "--out", str(tmp_path), timeout=60)
    assert result.returncode != 0 and message in result.stderr, result.stderr
