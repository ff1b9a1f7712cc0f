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
# Apply upstream/patches/*.patch (one `git format-patch` series made against verl main, the PR's base) to verl
# source trees and test the result. Targets, in this order (default: both):
#   main   the verl main snapshot ../shared/verl-main/verl-*.tar.gz (a `git archive` of main; or $VERL_MAIN_SNAPSHOT),
#          no network; where there is none (a user's clone) this target is SKIPPED with a message, not failed
#   0.9.1  the verl 0.9.1 sdist from PyPI (downloaded once with pip, cached in upstream/.cache/, sha256-checked)
# For each target:
#   1. unpack the source into a temp dir, inside a throw-away git repository
#   2. check that verl's config generator reproduces the pristine tree's four _generated_*.yaml byte for byte: the
#      tree's own scripts/generate_trainer_config.sh where it ships one (main), else (the 0.9.1 sdist lacks it) its
#      steps re-created around the sdist's scripts/print_cfg.py
#   3. apply the patches strictly (git apply: no fuzz; hunks that land at an offset are counted); for 0.9.1 without
#      the two files the series changes that the sdist does not ship (SDIST_LACKS: it has no docs/ and no
#      tests/special_sanity/)
#   4. regenerate the _generated_*.yaml of the patched tree and require them identical to the patched files; where
#      the tree ships verl's sanity checks (main), run the ones of its pre-commit hooks that concern the series
#   5. run verl's own CPU tests of the loss and its config (tests/trainer/ppo/*_on_cpu.py,
#      tests/test_base_config_on_cpu.py, tests/workers/config/test_actor_config_on_cpu.py where shipped) and the new
#      tests/trainer/ppo/test_abc_grpo_loss_on_cpu.py against the PATCHED tree
#   6. run upstream/parity_check.py: the patched tree's abc_grpo vs the plugin on the verl installed for $PYTHON
# Every verl import of steps 2-5 comes from the patched tree (PYTHONPATH=<tree>), with the plugin's entry point off
# (VERL_USE_EXTERNAL_PLUGINS=none); step 5 first checks verl.__file__ and that abc_grpo_verl is not imported.
#
# Usage: upstream/apply_and_test.sh [main] [0.9.1]   (PYTHON=<interpreter with torch, verl's deps and pytest>)
#        KEEP_TREE=1 upstream/apply_and_test.sh        keeps the patched trees and prints where
# Exit status: 0 every target passed or was skipped; 1 a check failed; 2 the 0.9.1 sdist could not be downloaded.
set -euo pipefail
unset VERL_USE_EXTERNAL_MODULES

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$REPO/.venv/bin/python" ]]; then PYTHON="$REPO/.venv/bin/python"; else PYTHON=python3; fi
fi
SDIST_VERSION=0.9.1
SDIST="verl-${SDIST_VERSION}.tar.gz"
# sha256 of the file PyPI serves for verl==0.9.1 (pip also checks PyPI's own hash while downloading)
SDIST_SHA256=3e03d8816b2546b2c5580705671b8d0bb3f79b8364e7b5c56dbfc1245536ba22
CACHE="${ABC_UPSTREAM_CACHE:-$HERE/.cache}"
NEW_TEST=tests/trainer/ppo/test_abc_grpo_loss_on_cpu.py
# files the series changes that the 0.9.1 sdist does not ship; left out when applying it there
SDIST_LACKS=(docs/index.rst tests/special_sanity/check_license.py)
# verl's pre-commit hooks (tests/special_sanity/, main only) that concern the files of the series
SANITY_CHECKS=("check_license.py --directories ." check_docs_time_info.py check_docstrings.py validate_structure.py)
# config name : generated file : print_cfg.py argument, as in the headers of verl's generated files
GENERATED_SPECS=(
    "_generated_ppo_trainer.yaml:"
    "_generated_ppo_megatron_trainer.yaml:model_engine=megatron"
    "_generated_ppo_torchtitan_trainer.yaml:model_engine=torchtitan"
    "_generated_ppo_veomni_trainer.yaml:model_engine=veomni"
)

TARGETS=("$@")
[[ ${#TARGETS[@]} -gt 0 ]] || TARGETS=(main "$SDIST_VERSION")
for target in "${TARGETS[@]}"; do
    [[ "$target" == main || "$target" == "$SDIST_VERSION" ]] \
        || { echo "apply_and_test: unknown target '$target': use main and/or $SDIST_VERSION" >&2; exit 1; }
done

fail() { echo "apply_and_test: FAILED [$TARGET]: $*" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/abc-grpo-upstream.XXXXXX")"
cleanup() { if [[ "${KEEP_TREE:-0}" == 1 ]]; then echo "kept: $WORK"; else rm -rf "$WORK"; fi; }
trap cleanup EXIT

shopt -s nullglob
PATCHES=("$HERE"/patches/*.patch)
[[ ${#PATCHES[@]} -gt 0 ]] || { echo "apply_and_test: FAILED: no patches in $HERE/patches" >&2; exit 1; }

# main's generator calls `python3`: make that $PYTHON
mkdir -p "$WORK/bin"
printf '#!/bin/sh\nexec "%s" "$@"\n' "$PYTHON" > "$WORK/bin/python3"
chmod +x "$WORK/bin/python3"

sha256_of() { "$PYTHON" -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"; }

# ---- 1. the sources -----------------------------------------------------------------------------------------------
fetch_sdist() {  # sets ARCHIVE to the cached, checked sdist
    mkdir -p "$CACHE"
    # the cache ignores itself, so it never shows up in `git status` whatever the repository's .gitignore says
    [[ -f "$CACHE/.gitignore" ]] || echo '*' > "$CACHE/.gitignore"
    if [[ -f "$CACHE/$SDIST" && "$(sha256_of "$CACHE/$SDIST")" == "$SDIST_SHA256" ]]; then
        echo "==> [$TARGET] using cached $CACHE/$SDIST"
    else
        echo "==> [$TARGET] downloading $SDIST from PyPI: pip download --no-binary=:all: --no-deps verl==$SDIST_VERSION"
        if ! "$PYTHON" -m pip download --quiet --no-binary=:all: --no-deps "verl==$SDIST_VERSION" -d "$WORK/download"; then
            echo "apply_and_test: FAILED [$TARGET]: could not download verl==$SDIST_VERSION's source distribution from PyPI." >&2
            echo "  This step needs network access to PyPI once; later runs use $CACHE/$SDIST." >&2
            exit 2
        fi
        [[ -f "$WORK/download/$SDIST" ]] || fail "pip did not produce $SDIST"
        local actual
        actual="$(sha256_of "$WORK/download/$SDIST")"
        [[ "$actual" == "$SDIST_SHA256" ]] || fail "sha256 of the downloaded $SDIST is $actual, expected $SDIST_SHA256"
        # copy next to the cache entry, then rename: a concurrent run never reads a half-written file
        cp "$WORK/download/$SDIST" "$CACHE/.$SDIST.$$"
        mv -f "$CACHE/.$SDIST.$$" "$CACHE/$SDIST"
    fi
    ARCHIVE="$CACHE/$SDIST"
}

find_main_snapshot() {  # sets ARCHIVE to the main snapshot, or to nothing
    ARCHIVE="${VERL_MAIN_SNAPSHOT:-}"
    if [[ -n "$ARCHIVE" ]]; then
        [[ -f "$ARCHIVE" ]] || fail "VERL_MAIN_SNAPSHOT=$ARCHIVE is not a file"
    else
        local found=("$REPO"/../shared/verl-main/verl-*.tar.gz)
        [[ ${#found[@]} -le 1 ]] || fail "more than one snapshot in $REPO/../shared/verl-main/: set VERL_MAIN_SNAPSHOT"
        [[ ${#found[@]} -eq 0 ]] || ARCHIVE="${found[0]}"
    fi
}

unpack() {  # $1: archive; sets TREE to its single top-level directory, unpacked
    local dest="$WORK/$TARGET"
    mkdir -p "$dest"
    tar --no-same-owner -xzf "$1" -C "$dest"
    local tops=("$dest"/*/)
    [[ ${#tops[@]} -eq 1 ]] || fail "$1 does not hold a single top-level directory"
    TREE="$(cd "${tops[0]}" && pwd)"
}

# ---- 2./4. config generation --------------------------------------------------------------------------------------
# git in the throw-away repository, whatever TMPDIR's owner (safe.directory may only come from the command line/env)
tree_git() { git -C "$TREE" -c safe.directory="$TREE" "$@"; }
in_tree() {  # runs a command in the tree, with its verl, the plugin off, $PYTHON as python3, git allowed there
    (cd "$TREE" && PATH="$WORK/bin:$PATH" PYTHONPATH="$TREE" VERL_USE_EXTERNAL_PLUGINS=none \
        GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=safe.directory GIT_CONFIG_VALUE_0="$TREE" "$@")
}

# The 0.9.1 sdist ships scripts/print_cfg.py but not scripts/generate_trainer_config.sh. The script's steps: write a
# 4-line header naming the print_cfg.py command and a blank line, then append the output of
# `python3 scripts/print_cfg.py --cfg job <arg>` from the first line starting with `actor_rollout_ref` on.
recreated_generator() {  # regenerates into $TREE, then compares with the index
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
            in_tree "$PYTHON" scripts/print_cfg.py --cfg job ${arg} | sed -n '/^actor_rollout_ref/,$p'
        } > "$WORK/$TARGET-$file"
        mv "$WORK/$TARGET-$file" "$TREE/verl/trainer/config/$file"
    done
    tree_git diff --exit-code --quiet -- verl/trainer/config
}

# Regenerate the configs in place and require the working tree to equal the index (the pristine or patched files).
check_generated_configs() {  # $1: what is being checked
    local log="$WORK/$TARGET-generator.log"
    if [[ -f "$TREE/scripts/generate_trainer_config.sh" ]]; then
        GENERATOR="the tree's own scripts/generate_trainer_config.sh"
        # its last step is `git diff --exit-code` on the generated files, in the tree's repository
        in_tree bash scripts/generate_trainer_config.sh >"$log" 2>&1 && grep -q '^All good$' "$log" && GENERATED_OK=1 \
            || GENERATED_OK=0
    else
        [[ -f "$TREE/scripts/print_cfg.py" ]] || fail "the tree has no scripts/print_cfg.py to regenerate the configs"
        GENERATOR="verl's generator, re-created around scripts/print_cfg.py"
        recreated_generator >"$log" 2>&1 && GENERATED_OK=1 || GENERATED_OK=0
    fi
    if [[ "$GENERATED_OK" != 1 ]]; then
        tail -n 20 "$log"
        tree_git diff -- verl/trainer/config | head -40
        fail "$1: $GENERATOR does not reproduce them"
    fi
}

# ---- 5. tests against the patched tree ----------------------------------------------------------------------------
run_pytest() {  # $1: log name, $2: label, rest: test files
    local log="$WORK/$TARGET-pytest-$1.log" label="$2"
    shift 2
    if in_tree "$PYTHON" -m pytest -q -p no:cacheprovider --rootdir="$TREE" "$@" >"$log" 2>&1; then
        echo "==> [$TARGET] $label: $(grep -E '^[0-9]+ passed' "$log" | tail -n 1)"
    else
        tail -n 60 "$log"
        fail "$label"
    fi
}

test_target() {  # $1: archive, $2: its description
    echo "==> [$TARGET] $2"
    unpack "$1"
    tree_git init -q
    tree_git add -A
    tree_git -c user.name=apply_and_test -c user.email=apply_and_test@localhost commit -q -m "$2"

    check_generated_configs "the pristine _generated_*.yaml"
    echo "==> [$TARGET] $GENERATOR reproduces the 4 shipped _generated_*.yaml of the pristine tree byte for byte"

    # ---- 3. apply
    local exclude=() patch applied offsets lacked check
    if [[ "$TARGET" == "$SDIST_VERSION" ]]; then
        for lacked in "${SDIST_LACKS[@]}"; do
            [[ ! -e "$TREE/$lacked" ]] || fail "$lacked is in the sdist after all: apply it (drop it from SDIST_LACKS)"
            exclude+=(--exclude="$lacked")
        done
    fi
    for patch in "${PATCHES[@]}"; do
        tree_git apply --index --check "${exclude[@]}" "$patch" \
            || fail "$(basename "$patch") does not apply to $2"
        applied="$(tree_git apply --index --verbose "${exclude[@]}" "$patch" 2>&1)"
        offsets="$(grep -c 'succeeded at .* (offset' <<<"$applied" || true)"
        echo "==> [$TARGET] applied $(basename "$patch") (no fuzz; hunks at an offset: $offsets)"
    done
    [[ ${#exclude[@]} -eq 0 ]] || echo "==> [$TARGET] left out, as the sdist does not ship them: ${SDIST_LACKS[*]}"
    tree_git diff --cached --stat | tail -n 20

    check_generated_configs "the patched _generated_*.yaml"
    echo "==> [$TARGET] patched _generated_*.yaml are exactly what $GENERATOR produces from the patched actor.yaml"
    if [[ -d "$TREE/tests/special_sanity" ]]; then
        for check in "${SANITY_CHECKS[@]}"; do
            # shellcheck disable=SC2086  # $check is a script and its arguments
            in_tree "$PYTHON" tests/special_sanity/$check >"$WORK/$TARGET-sanity.log" 2>&1 \
                || { tail -n 20 "$WORK/$TARGET-sanity.log"; fail "verl's sanity check $check"; }
        done
        echo "==> [$TARGET] verl's sanity checks pass on the patched tree: ${SANITY_CHECKS[*]}"
    fi

    # ---- 5. verl's tests and the new ones
    (cd "$WORK" && PYTHONPATH="$TREE" VERL_USE_EXTERNAL_PLUGINS=none "$PYTHON" - "$TREE" <<'EOF'
import os, sys
import verl
from verl.trainer.ppo import core_algos
tree = os.path.realpath(sys.argv[1])
assert os.path.realpath(verl.__file__).startswith(tree + os.sep), f"verl imported from {verl.__file__}, not {tree}"
assert "abc_grpo_verl" not in sys.modules, "the abc_grpo_verl plugin was imported"
assert core_algos.get_policy_loss_fn("abc_grpo") is core_algos.compute_policy_loss_abc_grpo
print(f"verl {verl.__version__} imported from {verl.__file__}; abc_grpo from patched core_algos; plugin not imported")
EOF
    ) | sed "s/^/==> [$TARGET] /" || fail "the patched tree is not what python imports"

    local existing
    mapfile -t existing < <(cd "$TREE" && {
        find tests/trainer/ppo -maxdepth 1 -name '*_on_cpu.py' ! -path "$NEW_TEST"
        ls tests/test_base_config_on_cpu.py tests/workers/config/test_actor_config_on_cpu.py 2>/dev/null
    } | sort)
    run_pytest existing "verl's existing CPU tests of the loss and its config (${#existing[@]} files) on the patched tree" \
        "${existing[@]}"
    printf '    %s\n' "${existing[@]}"
    run_pytest new "new $NEW_TEST on the patched tree" "$NEW_TEST"

    # ---- 6. parity with the plugin
    "$PYTHON" "$HERE/parity_check.py" --patched-tree "$TREE" --out "$WORK/$TARGET-parity" \
        | sed "s/^/==> [$TARGET] /" || fail "parity with the plugin"
}

SUMMARY=()
for TARGET in "${TARGETS[@]}"; do
    if [[ "$TARGET" == main ]]; then
        find_main_snapshot
        if [[ -z "$ARCHIVE" ]]; then
            echo "==> [main] SKIPPED: no verl main snapshot at $REPO/../shared/verl-main/verl-*.tar.gz and no" \
                 "VERL_MAIN_SNAPSHOT"
            SUMMARY+=("verl main SKIPPED: no snapshot")
            continue
        fi
        commit="$(gzip -dc "$ARCHIVE" | git get-tar-commit-id || true)"
        test_target "$ARCHIVE" "verl main snapshot $ARCHIVE (commit ${commit:-unknown})"
        SUMMARY+=("verl main ${commit:0:7} + ${#PATCHES[@]} patches")
    else
        fetch_sdist
        test_target "$ARCHIVE" "verl $SDIST_VERSION sdist"
        SUMMARY+=("verl $SDIST_VERSION sdist + ${#PATCHES[@]} patches")
    fi
    echo "==> [$TARGET] OK"
done

printf -v joined '%s; ' "${SUMMARY[@]}"
echo "apply_and_test: OK (${joined%; })"
