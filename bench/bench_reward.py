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
"""Reward throughput: grades per second from many threads, on ordinary answers and with 5% pathological ones.

    python bench/bench_reward.py                                   # 16 threads, 3 rounds, about 10 minutes
    python bench/bench_reward.py --answers 400 --baseline verl     # also verl's own math_verify scorer
    PYTHONPATH=/path/to/older/checkout python bench/bench_reward.py  # an older abc_grpo_verl.reward

Each scorer grades, from --threads threads (verl's reward manager calls it from a thread pool), the same batches:

- repeated: the issue's batch, one answer over and over (``\\boxed{(1,2)}``, correct), so sympy's caches are hot;
  ten times --answers of them, as they grade fast;
- varied: --answers generated answers of the kinds models give (integers, fractions as decimals, tuples, surds,
  polynomials, intervals, multiples of pi, choice letters), each against its ground truth, about half correct;
- "+ 5% refused": the batch with every 20th answer replaced by one the grading budget refuses (power towers,
  huge factorials, binomials and gamma values), graded against the number 3;
- "+ 5% costly": every 20th answer replaced by one the budget sends to math-verify with its 1 s timeout (expansions
  with thousands of terms, a product over a billion factors, an integral, deep braces), which keep math-verify
  busy for 3 s to past its own 5 s timeout against 3;
- "+ 5% slow": every 20th answer replaced by an ordinary one on which math-verify needs about half a second (powers
  of sums just under the expansion limit): the cost of what the budget lets through at full timeout;
- "+ 5% not recognised": every 20th answer replaced by one the budget does not recognise although math-verify needs
  1.5 s to its 5 s timeout on it (towers of e, a tangent of a 100,000-digit number, high trigonometric powers).

Every scenario runs once per round, in turn, for --repeats rounds, so a change in the shared machine's load hits
all of them alike. The table gives, per scenario, the median grades per second, its ratio to the median of the
same batch without pathological answers, "changed" (ordinary answers scored differently than in that batch's first
round: graded differently because of their neighbours, or of load) and the load average seen. Results go to --out
as JSON and markdown.
"""

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path

# The answers mixed in, each graded against the number 3; main() checks how the budget classes each list. Measured
# with math-verify in a main thread on 2 loaded cores; docs/reward.md has the figures.
# Refused: exact numbers past the budget, compared as text in microseconds.
REFUSED = ["9^{9^{9^{9}}}", "10^{10^{10}}", "(10^{9})!", "\\binom{10^{9}}{5\\cdot 10^{8}}", "\\Gamma(10^{9})",
           "1000000!", "\\sqrt{2}^{10^{10}}", "(" * 200 + "9^{9^{9^{9}}}" + ")" * 200]
# Costly: each keeps math-verify busy 3 s to past its 5 s timeout, cut here to 1 s per call.
COSTLY = ["(x+y+1)^{200}", "(x+1)^{100000}", "(1+\\sqrt{2})^{10000}", "\\prod_{k=1}^{10^{9}} k",
          "\\sum_{k=1}^{10^{5}} k^{k}", "\\lfloor e^{10^{10}} \\rfloor", "\\int e^{x^{2}}\\sin(x^{3})\\,dx",
          "{" * 20 + "1" + "}" * 20]
# Ordinary, just within the budget (expansions of up to MAX_EXPANDED_TERMS terms): about half a second each.
SLOW = ["(x+1)^{99}", "(x+y+1)^{12}", "(1+\\sqrt{3})^{99}", "(x+y+z+1)^{6}"]
# Ordinary to the budget, which does not recognise them, yet 1.5 s (the tangent) to the 5 s timeout (the towers).
UNRECOGNISED = ["e^{e^{e^{e^{e}}}}", "\\sin(e^{e^{e^{e}}})", "\\sin^{99}(x)\\cos^{99}(x)", "\\tan(10^{99999})"]
PATHOLOGICAL_EVERY = 20  # 5%
# (scenario, its batch, the pathological answers mixed in)
SCENARIOS = [("repeated", "repeated", None), ("repeated + 5% refused", "repeated", REFUSED),
             ("varied", "varied", None), ("varied + 5% refused", "varied", REFUSED),
             ("varied + 5% costly", "varied", COSTLY), ("varied + 5% slow", "varied", SLOW),
             ("varied + 5% not recognised", "varied", UNRECOGNISED)]


def varied_answers(count, seed):
    """(response, ground truth) pairs of the kinds real responses have, about half of them correct."""
    rng = random.Random(seed)

    def pair():
        kind = rng.randrange(8)
        a, b, c = rng.randint(2, 999), rng.randint(2, 99), rng.randint(1, 9)
        if kind == 0:
            return str(a * b), f"{a * b:,}" if rng.random() < 0.5 else str(a * b + c)
        if kind == 1:
            denominator = rng.choice([2, 4, 5, 8, 20, 25])
            return f"\\frac{{{a}}}{{{denominator}}}", str(a / denominator + (0 if rng.random() < 0.5 else c))
        if kind == 2:
            return f"({a}, {b})", f"({a},{b})" if rng.random() < 0.5 else f"({b},{a})"
        if kind == 3:
            return f"{c}\\sqrt{{{b}}}", f"\\sqrt{{{c * c * b}}}" if rng.random() < 0.5 else f"\\sqrt{{{c * b}}}"
        if kind == 4:
            constant = b if rng.random() < 0.5 else b + 1
            return f"(x+{c})(x+{b // c})", f"x^2+{c + b // c}x+{c * (b // c) if constant == b else constant}"
        if kind == 5:
            return f"[{c}, {a})", f"[{c},{a})" if rng.random() < 0.5 else f"({c},{a}]"
        if kind == 6:
            return f"\\frac{{{c}\\pi}}{{{b}}}", f"\\frac{{{c}}}{{{b}}}\\pi" if rng.random() < 0.5 else f"{c}\\pi"
        letter = "ABCDE"[c % 5]
        return f"\\text{{({letter})}}", letter if rng.random() < 0.5 else "ABCDE"[(c + 1) % 5]

    return [(f"So the answer is $\\boxed{{{answer}}}$.", truth) for answer, truth in (pair() for _ in range(count))]


def with_pathological(batch, answers):
    """`batch` with every PATHOLOGICAL_EVERY-th response replaced by one of `answers` (against the number 3)."""
    mixed = list(batch)
    for position, index in enumerate(range(0, len(mixed), PATHOLOGICAL_EVERY)):
        mixed[index] = (f"So the answer is $\\boxed{{{answers[position % len(answers)]}}}$.", "3")
    return mixed


def load_scorer(name):
    """(label, score(response, ground_truth) -> float) of 'abc_grpo_verl' (this plugin's reward, wherever
    PYTHONPATH finds it) or 'verl' (verl's own math_verify scorer, which grades in a spawned process pool)."""
    if name == "verl":
        from verl.utils.reward_score import math_verify

        return "verl math_verify", lambda response, truth: math_verify.compute_score(response, truth)
    from abc_grpo_verl import reward

    label = f"abc_grpo_verl ({Path(reward.__file__).parent.parent})"
    return label, lambda response, truth: reward.compute_score(data_source="bench", solution_str=response,
                                                               ground_truth=truth)["score"]


def grade(score, batch, threads):
    """(scores, seconds) of grading `batch` from `threads` threads."""
    with ThreadPoolExecutor(threads) as pool:
        start = time.perf_counter()
        scores = list(pool.map(lambda pair: score(*pair), batch))
        return scores, time.perf_counter() - start


def bench_scorer(name, batches, threads, repeats):
    """One row per scenario: the median over `repeats` rounds, each round grading every scenario once in turn, so a
    change in the machine's load hits all of them alike."""
    label, score = load_scorer(name)
    grade(score, batches["varied"][: threads * 4], threads)  # starts the scorer's worker processes
    runs = {scenario: [] for scenario, _, _ in SCENARIOS}
    for round_number in range(1, repeats + 1):
        for scenario, batch_name, pathological in SCENARIOS:
            batch = batches[batch_name] if pathological is None else with_pathological(batches[batch_name],
                                                                                       pathological)
            print(f"{label}: round {round_number}/{repeats}, {scenario} ({len(batch)} answers) ...", flush=True)
            load = os.getloadavg()[0]
            scores, seconds = grade(score, batch, threads)
            runs[scenario].append({"scores": scores, "grades_per_s": len(batch) / seconds, "load": load})
    rows = []
    for scenario, batch_name, pathological in SCENARIOS:
        replaced = set() if pathological is None else set(range(0, len(batches[batch_name]), PATHOLOGICAL_EVERY))
        reference = runs[batch_name][0]["scores"]  # the first round of the batch without pathological answers
        rate = statistics.median(run["grades_per_s"] for run in runs[scenario])
        loads = [run["load"] for run in runs[scenario]]
        rows.append({"scorer": label, "scenario": scenario, "answers": len(batches[batch_name]),
                     "grades_per_s": rate, "rounds_grades_per_s": [run["grades_per_s"] for run in runs[scenario]],
                     "ratio_to_batch": rate / statistics.median(run["grades_per_s"] for run in runs[batch_name]),
                     "changed": sum(run["scores"][i] != reference[i] for run in runs[scenario]
                                    for i in range(len(reference)) if i not in replaced),
                     "load_min": min(loads), "load_max": max(loads)})
    return rows


def markdown(result):
    lines = [f"# Reward throughput ({result['machine']})", "",
             (f"Commit {result['commit']}, math-verify {result['math_verify']}, Python {result['python']}, "
              f"{result['threads']} threads, {result['workers']} grading workers."), "",
             "| scorer | scenario | answers | grades/s | rounds | ratio to its batch | changed | load |",
             "|---|---|---:|---:|---|---:|---:|---|"]
    for r in result["rows"]:
        rounds = "-".join(f"{rate:.1f}" for rate in (min(r["rounds_grades_per_s"]), max(r["rounds_grades_per_s"])))
        lines.append(f"| {r['scorer']} | {r['scenario']} | {r['answers']} | {r['grades_per_s']:.1f} | {rounds} | "
                     f"{r['ratio_to_batch']:.2f} | {r['changed']} | {r['load_min']:.1f}-{r['load_max']:.1f} |")
    lines += ["", (f"grades/s: median of {result['repeats']} interleaved rounds (rounds: lowest-highest). ratio to "
                   "its batch: over the median of the same batch without pathological answers. changed: ordinary "
                   "answers, over all rounds, "
                   "scored differently than in that batch's first round (graded differently because of their "
                   "neighbours, or of load). load: the 1-minute load average at the start of each round's "
                   "measurement, lowest-highest.")]
    return "\n".join(lines) + "\n"


def positive(flag):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise argparse.ArgumentTypeError(f"{flag}={text!r} is invalid: need an integer >= 1")
        return value
    return parse


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--answers", type=positive("--answers"), default=500,
                        help="answers per varied batch; the repeated batch has 10 times as many (default: 500)")
    parser.add_argument("--repeats", type=positive("--repeats"), default=3,
                        help="interleaved rounds over all scenarios; the table gives medians (default: 3)")
    parser.add_argument("--threads", type=positive("--threads"), default=16, help="grading threads (default: 16)")
    parser.add_argument("--baseline", choices=("verl",), action="append", default=[],
                        help="also measure verl's own math_verify scorer")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench/results", help="output folder (default: bench/results)")
    args = parser.parse_args()

    from abc_grpo_verl import reward

    if hasattr(reward, "grading_cost"):  # an older reward (PYTHONPATH) has no such classes
        for answers, cost in [(REFUSED, "REFUSED"), (COSTLY, "COSTLY"), (SLOW + UNRECOGNISED, "ORDINARY")]:
            assert [reward.grading_cost(answer).name for answer in answers] == [cost] * len(answers), cost
    # the repeated batch grades in a fraction of the varied one's time: ten times as many keeps it measurable
    batches = {"repeated": [("So the answer is $\\boxed{(1,2)}$.", "(1,2)")] * (10 * args.answers),
               "varied": varied_answers(args.answers, args.seed)}
    rows = []
    for name in ["abc_grpo_verl", *args.baseline]:
        rows += bench_scorer(name, batches, args.threads, args.repeats)
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=Path(reward.__file__).parent,
                            capture_output=True, text=True)  # of the reward measured
    result = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
              "commit": commit.stdout.strip() or "unknown", "math_verify": version("math-verify"),
              "python": platform.python_version(), "threads": args.threads, "repeats": args.repeats,
              "workers": getattr(reward, "WORKER_PROCESSES", "?"), "rows": rows}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "reward.json").write_text(json.dumps(result, indent=2))
    (out / "reward.md").write_text(markdown(result))
    print(markdown(result))
    print(f"wrote {out / 'reward'}.json and .md")
    sys.stdout.flush()
    end_grading_processes()
    # verl's pool keeps running the tasks whose result it stopped waiting for, and a normal exit would wait for
    # all of them (minutes after the slow scenario); this process has nothing left to do.
    os._exit(0)


def end_grading_processes():
    """Kill every grading process this bench started, since os._exit skips the exit handlers that would: verl's
    math_verify pool workers (spawned, so re-parented to init and left running, holding this process's stdout
    open) and this plugin's workers (which exit by themselves at the end of their input, but need not wait)."""
    math_verify = sys.modules.get("verl.utils.reward_score.math_verify")
    pool = getattr(math_verify, "_pool", None)
    if pool is not None:
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.kill()
        for process in processes:
            process.join(timeout=10)
    reward = sys.modules.get("abc_grpo_verl.reward")
    if reward is not None and hasattr(reward, "_kill_workers"):
        reward._kill_workers()


if __name__ == "__main__":
    main()
