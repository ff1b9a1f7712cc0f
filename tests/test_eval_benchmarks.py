"""The benchmarks packaged with the evaluation (`abc_grpo_verl/evaluation/benchmarks/`): their record of source and
counts, that the reward grades each answer correct as a boxed answer (and another problem's answer wrong), that they
travel with the package, and -- where `../shared/benchmarks` is present, as in CI -- that the packaging script
rebuilds them byte for byte from the authors' files. Nothing here needs `../shared` except that last check.
"""

import fnmatch
import hashlib
import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # the test extra brings tomli on Python 3.10
    import tomli as tomllib

from abc_grpo_verl.evaluation.data import PACKAGED_DIR, load_benchmark, packaged_benchmarks
from abc_grpo_verl.reward import compute_score

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "benchmarks"
MANIFEST = json.loads((PACKAGED_DIR / "sources.json").read_text())
PAPER_AND_RECIPES = {"aime24", "aime25", "amc23", "math500", "gsm8k"}


def readme_counts(path: Path, name_pattern: str) -> dict[str, int]:
    """{name: problems} from the first two columns of a README's markdown table."""
    rows = re.findall(rf"^\| ({name_pattern}) \| ([0-9,]+) \|", path.read_text(), flags=re.M)
    return {name: int(count.replace(",", "")) for name, count in rows}


def bare(answer: str) -> str:
    return re.sub(r"^[a-z]\s*=\s*", "", answer)


def load_script():
    path = REPO / "examples" / "eval_data" / "package_benchmarks.py"
    spec = importlib.util.spec_from_file_location("package_benchmarks", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_packaged_benchmarks_match_their_record_and_readme():
    counts = readme_counts(PACKAGED_DIR / "README.md", r"[a-z0-9_]+")
    assert set(packaged_benchmarks()) == set(MANIFEST["benchmarks"]) == set(counts) == PAPER_AND_RECIPES
    assert MANIFEST["repository"] == "https://github.com/chi2liu/ABC-GRPO"
    assert MANIFEST["commit"] == "c40bbafd9ef1a0983b562527f6e813ca13188f1f"
    assert MANIFEST["license"] == "Apache-2.0" and "Apache License" in (PACKAGED_DIR / "LICENSE").read_text()
    for name, entry in MANIFEST["benchmarks"].items():
        benchmark = load_benchmark(name)
        assert benchmark.packaged and benchmark.sha256 == entry["sha256"], name
        assert len(benchmark.problems) == entry["problems"] == counts[name], name
    # The counts of the source README (30, 30, 40, 500, 1,319).
    assert counts == {"aime24": 30, "aime25": 30, "amc23": 40, "math500": 500, "gsm8k": 1319}


@pytest.mark.parametrize("name", sorted(PAPER_AND_RECIPES))
def test_every_packaged_answer_is_graded_correct_and_another_answer_wrong(name):
    problems = load_benchmark(name).problems
    answers = [p.answer for p in problems]
    for i, problem in enumerate(problems):
        graded = compute_score(name, f"So the final answer is $\\boxed{{{problem.answer}}}$.", problem.answer)
        assert graded["acc"], (name, problem.id, problem.answer)
        if re.fullmatch(r"-?[0-9]+", problem.answer):
            continue  # an integer cannot parse into something degenerate
        # Another problem's answer (the next one with another value: "x=5" is MATH-500's other way to write 5) must not
        # match: an answer that math-verify parsed into something degenerate would match everything.
        other = next(a for a in answers[i + 1 :] + answers[:i] if bare(a) != bare(problem.answer))
        assert not compute_score(name, f"\\boxed{{{other}}}", problem.answer)["acc"], (name, problem.id, other)


def test_normalised_answers_are_the_values_of_the_source():
    aime24 = {p.id: p.answer for p in load_benchmark("aime24").problems}
    amc23 = {p.id: p.answer for p in load_benchmark("amc23").problems}
    gsm8k = {p.id: p for p in load_benchmark("gsm8k").problems}
    assert (aime24["67"], amc23["0"]) == ("25", "27")  # '025' and 27.0 at the source
    assert gsm8k["0"].answer == "18" and gsm8k["0"].problem.startswith("Janet’s ducks lay 16 eggs per day.")
    assert all(re.fullmatch(r"-?[0-9]+", p.answer) for p in gsm8k.values())  # '1,450,000' -> '1450000'
    math500 = {p.id: p.answer for p in load_benchmark("math500").problems}
    assert math500["test/precalculus/807.json"] == "\\left( 3, \\frac{\\pi}{2} \\right)"  # verbatim LaTeX


def test_benchmarks_are_package_data():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["abc_grpo_verl"]
    package = REPO / "abc_grpo_verl"
    files = [p.relative_to(package).as_posix() for p in PACKAGED_DIR.iterdir()]
    assert {"README.md", "LICENSE", "sources.json"} <= {Path(f).name for f in files}
    assert all(any(fnmatch.fnmatch(f, pattern) for pattern in patterns) for f in files)


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/benchmarks (the authors' files) is not beside the checkout")
def test_packaging_script_rebuilds_the_packaged_files_from_the_authors_copies(tmp_path):
    manifest = load_script().build(SHARED, tmp_path)
    assert manifest == MANIFEST
    for name in MANIFEST["benchmarks"]:
        assert (tmp_path / f"{name}.jsonl").read_bytes() == (PACKAGED_DIR / f"{name}.jsonl").read_bytes(), name
        source = SHARED / f"{name}.jsonl"
        assert hashlib.sha256(source.read_bytes()).hexdigest() == MANIFEST["benchmarks"][name]["source_sha256"]
    shared_counts = readme_counts(SHARED / "README.md", r"[a-z0-9_]+\.jsonl")
    assert {name: shared_counts[f"{name}.jsonl"] for name in MANIFEST["benchmarks"]} == {
        name: entry["problems"] for name, entry in MANIFEST["benchmarks"].items()
    }


def test_packaging_script_names_a_bad_source_row(tmp_path, capsys):
    script = load_script()
    for conversion in script.CONVERSIONS.values():
        (tmp_path / conversion.source).write_text('{"id": 1, "unique_id": "u", "idx": 0, "problem": "p", '
                                                  '"question": "q", "answer": "#### 7"}\n')
    (tmp_path / "amc23.jsonl").write_text('{"id": 1, "problem": "p", "answer": 2.0}\n{"id": 2, "problem": "p", '
                                          '"answer": null}\n')
    assert script.main(["--source", str(tmp_path), "--output-dir", str(tmp_path / "out")]) == 2
    assert "amc23.jsonl:2 (fields 'id', 'problem', 'answer'): field 'answer' is missing or null" in (
        capsys.readouterr().err)


def test_package_script_refuses_an_output_dir_that_is_a_file(tmp_path, capsys):
    (tmp_path / "taken").write_text("")
    with pytest.raises(SystemExit):
        load_script().main(["--source", str(tmp_path), "--output-dir", str(tmp_path / "taken")])
    assert f"--output-dir {tmp_path / 'taken'} is not a folder: {tmp_path / 'taken'} is an existing file" in (
        capsys.readouterr().err)
