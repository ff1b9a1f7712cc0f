#!/usr/bin/env bash
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
#
# Apply upstream/patches/*.patch to the verl 0.9.1 source distribution from PyPI and test the result:
#   1. fetch verl-0.9.1.tar.gz with pip (cached, sha256-checked), unpack it to a temp dir
#   2. check that verl's config generator, as scripts/generate_trainer_config.sh runs it, reproduces the four
#      shipped _generated_*.yaml of the pristine sdist byte for byte
#   3. apply the patches strictly (git apply: no fuzz, no offsets ignored silently); any failure stops here
#   4. regenerate the _generated_*.yaml of the patched tree and require them identical to the patched files
#   5. run verl's own CPU tests shipped in the sdist (tests/trainer/**/*_on_cpu.py, tests/test_base_config_on_cpu.py)
#      and the new tests/trainer/ppo/test_abc_grpo_loss_on_cpu.py against the PATCHED tree
#   6. run upstream/parity_check.py: patched verl's abc_grpo vs the plugin, bit for bit
# Every verl import of steps 4-5 comes from the patched tree (PYTHONPATH=<tree>), with the plugin's entry point off
# (VERL_USE_EXTERNAL_PLUGINS=none); step 5 first checks verl.__file__ and that abc_grpo_verl is not imported.
#
# Usage: upstream/apply_and_test.sh            (PYTHON=<interpreter with torch, verl's deps and pytest>)
#        KEEP_TREE=1 upstream/apply_and_test.sh  keeps the patched tree and prints its path
# Exit status: 0 all passed; 1 a check failed; 2 the sdist could not be downloaded.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$REPO/.venv/bin/python" ]]; then PYTHON="$REPO/.venv/bin/python"; else PYTHON=python3; fi
fi
VERL_VERSION=0.9.1
SDIST="verl-${VERL_VERSION}.tar.gz"
# sha256 of the file PyPI serves for verl==0.9.1 (pip also checks PyPI's own hash while downloading)
SDIST_SHA256=3e03d8816b2546b2c5580705671b8d0bb3f79b8364e7b5c56dbfc1245536ba22
CACHE="${ABC_UPSTREAM_CACHE:-$HERE/.cache}"
NEW_TEST=tests/trainer/ppo/test_abc_grpo_loss_on_cpu.py
# config name : generated file : print_cfg.py argument, as in the headers of verl 0.9.1's generated files
GENERATED_SPECS=(
    "_generated_ppo_trainer.yaml:"
    "_generated_ppo_megatron_trainer.yaml:model_engine=megatron"
    "_generated_ppo_torchtitan_trainer.yaml:model_engine=torchtitan"
    "_generated_ppo_veomni_trainer.yaml:model_engine=veomni"
)

step() { echo "==> $*"; }
fail() { echo "apply_and_test: FAILED: $*" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/abc-grpo-upstream.XXXXXX")"
cleanup() { if [[ "${KEEP_TREE:-0}" == 1 ]]; then echo "kept: $WORK"; else rm -rf "$WORK"; fi; }
trap cleanup EXIT

sha256_of() { "$PYTHON" -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"; }

# ---- 1. fetch and unpack ------------------------------------------------------------------------------------------
mkdir -p "$CACHE"
# the cache ignores itself, so it never shows up in `git status` whatever the repository's .gitignore says
[[ -f "$CACHE/.gitignore" ]] || echo '*' > "$CACHE/.gitignore"
if [[ -f "$CACHE/$SDIST" && "$(sha256_of "$CACHE/$SDIST")" == "$SDIST_SHA256" ]]; then
    step "using cached $CACHE/$SDIST"
else
    step "downloading $SDIST from PyPI: pip download --no-binary=:all: --no-deps verl==$VERL_VERSION"
    if ! "$PYTHON" -m pip download --quiet --no-binary=:all: --no-deps "verl==$VERL_VERSION" -d "$WORK/download"; then
        echo "apply_and_test: FAILED: could not download verl==$VERL_VERSION's source distribution from PyPI." >&2
        echo "  This step needs network access to PyPI once; later runs use $CACHE/$SDIST." >&2
        exit 2
    fi
    [[ -f "$WORK/download/$SDIST" ]] || fail "pip did not produce $SDIST"
    actual="$(sha256_of "$WORK/download/$SDIST")"
    [[ "$actual" == "$SDIST_SHA256" ]] || fail "sha256 of the downloaded $SDIST is $actual, expected $SDIST_SHA256"
    # copy next to the cache entry, then rename: a concurrent run never reads a half-written file
    cp "$WORK/download/$SDIST" "$CACHE/.$SDIST.$$"
    mv -f "$CACHE/.$SDIST.$$" "$CACHE/$SDIST"
fi
tar --no-same-owner -xzf "$CACHE/$SDIST" -C "$WORK"
TREE="$WORK/verl-$VERL_VERSION"
step "unpacked to $TREE"
[[ -f "$TREE/scripts/print_cfg.py" ]] || fail "the sdist has no scripts/print_cfg.py to regenerate the configs with"

# ---- 2./4. config generation, as verl's scripts/generate_trainer_config.sh does it ------------------------------
# The sdist ships scripts/print_cfg.py but not scripts/generate_trainer_config.sh. The script's steps: write a
# 4-line header naming the print_cfg.py command and a blank line, then append the output of
# `python3 scripts/print_cfg.py --cfg job <arg>` from the first line starting with `actor_rollout_ref` on.
generate_configs() {  # $1: tree, $2: output dir
    local spec file arg
    for spec in "${GENERATED_SPECS[@]}"; do
        file="${spec%%:*}"
        arg="${spec#*:}"
        {
            echo "# This reference configration yaml is automatically generated via 'scripts/generate_trainer_config.sh'"
            echo "# in which it invokes 'python3 scripts/print_cfg.py --cfg job ${arg}' to flatten the 'verl/trainer/config/ppo_trainer.yaml' config fields into a single file."
            echo "# Do not modify this file directly."
            echo "# The file is usually only for reference and never used."
            echo ""
            (cd "$1" && VERL_USE_EXTERNAL_PLUGINS=none PYTHONPATH="$1" "$PYTHON" scripts/print_cfg.py --cfg job ${arg}) \
                | sed -n '/^actor_rollout_ref/,$p'
        } > "$2/$file"
    done
}
compare_configs() {  # $1: tree, $2: generated dir, $3: what
    local spec file
    for spec in "${GENERATED_SPECS[@]}"; do
        file="${spec%%:*}"
        cmp -s "$2/$file" "$1/verl/trainer/config/$file" \
            || { diff -u "$1/verl/trainer/config/$file" "$2/$file" | head -40; fail "$3: $file differs"; }
    done
}
mkdir -p "$WORK/generated-pristine" "$WORK/generated-patched"
generate_configs "$TREE" "$WORK/generated-pristine"
compare_configs "$TREE" "$WORK/generated-pristine" "the generator does not reproduce the pristine sdist"
step "config generator reproduces the 4 shipped _generated_*.yaml of the pristine sdist byte for byte"

# ---- 3. apply -----------------------------------------------------------------------------------------------------
shopt -s nullglob
PATCHES=("$HERE"/patches/*.patch)
[[ ${#PATCHES[@]} -gt 0 ]] || fail "no patches in $HERE/patches"
# a throw-away repository around the tree, so that `git apply` resolves paths against the tree whatever TMPDIR is
tree_git() { git -C "$TREE" -c safe.directory="$TREE" "$@"; }
tree_git init -q
tree_git add -A
tree_git -c user.name=apply_and_test -c user.email=apply_and_test@localhost commit -q -m "verl $VERL_VERSION sdist"
for patch in "${PATCHES[@]}"; do
    tree_git apply --index --check "$patch" || fail "$(basename "$patch") does not apply to verl $VERL_VERSION"
    tree_git apply --index "$patch"
    step "applied $(basename "$patch")"
done
tree_git diff --cached --stat | tail -n 20

generate_configs "$TREE" "$WORK/generated-patched"
compare_configs "$TREE" "$WORK/generated-patched" "the patch's generated config is out of date"
step "patched _generated_*.yaml are exactly what the generator produces from the patched actor.yaml"

# ---- 5. verl's CPU tests and the new ones, against the patched tree -----------------------------------------------
export_tree_env() { export PYTHONPATH="$TREE" VERL_USE_EXTERNAL_PLUGINS=none; unset VERL_USE_EXTERNAL_MODULES; }
(
    export_tree_env
    cd "$WORK"
    "$PYTHON" - "$TREE" <<'EOF'
import os, sys
import verl
from verl.trainer.ppo import core_algos
tree = os.path.realpath(sys.argv[1])
assert os.path.realpath(verl.__file__).startswith(tree + os.sep), f"verl imported from {verl.__file__}, not {tree}"
assert "abc_grpo_verl" not in sys.modules, "the abc_grpo_verl plugin was imported"
assert core_algos.get_policy_loss_fn("abc_grpo") is core_algos.compute_policy_loss_abc_grpo
print(f"==> verl {verl.__version__} imported from {verl.__file__}; abc_grpo from patched core_algos; plugin not imported")
EOF
) || fail "the patched tree is not what python imports"

mapfile -t EXISTING < <(cd "$TREE" && { find tests/trainer -name '*_on_cpu.py' ! -path "$NEW_TEST"; echo tests/test_base_config_on_cpu.py; } | sort)
run_pytest() {  # $1: log name, $2: label, rest: test files
    local log="$WORK/pytest-$1.log" label="$2"
    shift 2
    if (export_tree_env && cd "$TREE" && "$PYTHON" -m pytest -q -p no:cacheprovider --rootdir="$TREE" "$@") >"$log" 2>&1; then
        echo "==> $label: $(grep -E '^[0-9]+ passed' "$log" | tail -n 1)"
    else
        tail -n 60 "$log"
        fail "$label"
    fi
}
run_pytest existing "verl's existing CPU tests (${#EXISTING[@]} files) on the patched tree" "${EXISTING[@]}"
printf '    %s\n' "${EXISTING[@]}"
run_pytest new "new $NEW_TEST on the patched tree" "$NEW_TEST"

# ---- 6. parity with the plugin ------------------------------------------------------------------------------------
"$PYTHON" "$HERE/parity_check.py" --patched-tree "$TREE" --out "$WORK/parity" || fail "parity with the plugin"

echo "apply_and_test: OK (verl $VERL_VERSION sdist + ${#PATCHES[@]} patches)"
