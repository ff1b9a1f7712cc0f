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
# Apply upstream/cpu/patches/*.patch (a `git format-patch` series made against verl main: verl on a CPU) to verl
# source trees and test the result. Targets, in this order (default: both):
#   main   the verl main snapshot ../shared/verl-main/verl-*.tar.gz (or $VERL_MAIN_SNAPSHOT), no network; where there
#          is none (a user's clone) this target is SKIPPED with a message, not failed
#   0.9.1  the verl 0.9.1 sdist, shared with upstream/apply_and_test.sh: downloaded once with pip into
#          upstream/.cache/ and sha256-checked
# For each target:
#   1. unpack the source into a temp dir, inside a throw-away git repository
#   2. apply the patches strictly (git apply: no fuzz; hunks that land at an offset are counted); for 0.9.1 without
#      the two files the series changes that the sdist does not ship (SDIST_LACKS)
#   3. where the tree ships verl's sanity checks (main), run the ones of its pre-commit hooks that concern the series
#   4. unless the target is left out of TEST_TARGETS: run the series' new CPU tests and verl's own platform tests
#      against the PATCHED tree, with PYTHONPATH=<tree> and verl's plugin entry points off
#      (VERL_USE_EXTERNAL_PLUGINS=none), after checking that verl is imported from the tree
#
# Usage: upstream/cpu/apply_and_test.sh [main] [0.9.1]   (PYTHON=<interpreter with torch, verl's deps and pytest>)
#        TEST_TARGETS="0.9.1" upstream/cpu/apply_and_test.sh main 0.9.1   applies to both, tests on 0.9.1 only
# Exit status: 0 every target passed or was skipped; 1 a check failed; 2 the 0.9.1 sdist could not be downloaded.
set -euo pipefail
unset VERL_USE_EXTERNAL_MODULES

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$REPO/.venv/bin/python" ]]; then PYTHON="$REPO/.venv/bin/python"; else PYTHON=python3; fi
fi
SDIST_VERSION=0.9.1
SDIST="verl-${SDIST_VERSION}.tar.gz"
SDIST_SHA256=3e03d8816b2546b2c5580705671b8d0bb3f79b8364e7b5c56dbfc1245536ba22
CACHE="${ABC_UPSTREAM_CACHE:-$REPO/upstream/.cache}"
# files the series changes that the 0.9.1 sdist does not ship; left out when applying it there
SDIST_LACKS=(tests/special_sanity/check_license.py verl/plugin/platform/README.md)
SANITY_CHECKS=("check_license.py --directories ." check_docstrings.py validate_structure.py)
NEW_TESTS=(
    tests/utils/test_distributed_backend_on_cpu.py
    tests/utils/test_vllm_version_on_cpu.py
    tests/utils/ckpt/test_rng_state_on_cpu.py
    tests/plugin/test_platform_cpu_on_cpu.py
)
# verl's own tests of the platform registry, which the new platform joins
EXISTING_TESTS=(tests/plugin/test_platform_abstraction.py)

TARGETS=("$@")
[[ ${#TARGETS[@]} -gt 0 ]] || TARGETS=(main "$SDIST_VERSION")
read -r -a TESTED <<<"${TEST_TARGETS:-${TARGETS[*]}}"
for target in "${TARGETS[@]}" "${TESTED[@]}"; do
    [[ "$target" == main || "$target" == "$SDIST_VERSION" ]] \
        || { echo "apply_and_test: unknown target '$target': use main and/or $SDIST_VERSION" >&2; exit 1; }
done

TARGET=""
fail() { echo "apply_and_test: FAILED [$TARGET]: $*" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/verl-cpu-upstream.XXXXXX")"
cleanup() { if [[ "${KEEP_TREE:-0}" == 1 ]]; then echo "kept: $WORK"; else rm -rf "$WORK"; fi; }
trap cleanup EXIT

shopt -s nullglob
PATCHES=("$HERE"/patches/*.patch)
[[ ${#PATCHES[@]} -gt 0 ]] || { echo "apply_and_test: FAILED: no patches in $HERE/patches" >&2; exit 1; }

sha256_of() { "$PYTHON" -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"; }

fetch_sdist() {  # sets ARCHIVE to the cached, checked sdist
    mkdir -p "$CACHE"
    [[ -f "$CACHE/.gitignore" ]] || echo '*' > "$CACHE/.gitignore"
    if [[ ! -f "$CACHE/$SDIST" || "$(sha256_of "$CACHE/$SDIST")" != "$SDIST_SHA256" ]]; then
        echo "==> [$TARGET] downloading $SDIST from PyPI: pip download --no-binary=:all: --no-deps verl==$SDIST_VERSION"
        if ! "$PYTHON" -m pip download --quiet --no-binary=:all: --no-deps "verl==$SDIST_VERSION" -d "$WORK/download"; then
            echo "apply_and_test: FAILED [$TARGET]: could not download verl==$SDIST_VERSION's source distribution from PyPI." >&2
            echo "  This step needs network access to PyPI once; later runs use $CACHE/$SDIST." >&2
            exit 2
        fi
        local actual
        actual="$(sha256_of "$WORK/download/$SDIST")"
        [[ "$actual" == "$SDIST_SHA256" ]] || fail "sha256 of the downloaded $SDIST is $actual, expected $SDIST_SHA256"
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

tree_git() { git -C "$TREE" -c safe.directory="$TREE" "$@"; }
in_tree() { (cd "$TREE" && PYTHONPATH="$TREE" VERL_USE_EXTERNAL_PLUGINS=none "$@"); }

test_target() {  # $1: archive, $2: its description
    echo "==> [$TARGET] $2"
    local dest="$WORK/$TARGET"
    mkdir -p "$dest"
    tar --no-same-owner -xzf "$1" -C "$dest"
    local tops=("$dest"/*/)
    [[ ${#tops[@]} -eq 1 ]] || fail "$1 does not hold a single top-level directory"
    TREE="$(cd "${tops[0]}" && pwd)"
    tree_git init -q
    tree_git add -A
    tree_git -c user.name=apply_and_test -c user.email=apply_and_test@localhost commit -q -m "$2"

    # ---- 2. apply
    local exclude=() patch applied offsets lacked check
    if [[ "$TARGET" == "$SDIST_VERSION" ]]; then
        for lacked in "${SDIST_LACKS[@]}"; do
            [[ ! -e "$TREE/$lacked" ]] || fail "$lacked is in the sdist after all: apply it (drop it from SDIST_LACKS)"
            exclude+=(--exclude="$lacked")
        done
    fi
    for patch in "${PATCHES[@]}"; do
        tree_git apply --index --check "${exclude[@]}" "$patch" || fail "$(basename "$patch") does not apply to $2"
        applied="$(tree_git apply --index --verbose "${exclude[@]}" "$patch" 2>&1)"
        offsets="$(grep -c 'succeeded at .* (offset' <<<"$applied" || true)"
        echo "==> [$TARGET] applied $(basename "$patch") (no fuzz; hunks at an offset: $offsets)"
    done
    [[ ${#exclude[@]} -eq 0 ]] || echo "==> [$TARGET] left out, as the sdist does not ship them: ${SDIST_LACKS[*]}"

    # ---- 3. verl's sanity hooks
    if [[ -d "$TREE/tests/special_sanity" ]]; then
        for check in "${SANITY_CHECKS[@]}"; do
            # shellcheck disable=SC2086  # $check is a script and its arguments
            in_tree "$PYTHON" tests/special_sanity/$check >"$WORK/$TARGET-sanity.log" 2>&1 \
                || { tail -n 20 "$WORK/$TARGET-sanity.log"; fail "verl's sanity check $check"; }
        done
        echo "==> [$TARGET] verl's sanity checks pass on the patched tree: ${SANITY_CHECKS[*]}"
    fi

    # ---- 4. the tests, against the patched tree
    [[ " ${TESTED[*]} " == *" $TARGET "* ]] || { echo "==> [$TARGET] tests not run (TEST_TARGETS=${TESTED[*]})"; return; }
    in_tree "$PYTHON" -c '
import os, sys
import verl
import verl.plugin.platform.platform_cpu as platform_cpu
tree = os.path.realpath(os.getcwd())
for module in (verl, platform_cpu):
    assert os.path.realpath(module.__file__).startswith(tree + os.sep), f"{module.__name__} from {module.__file__}"
print(f"verl {verl.__version__} imported from {verl.__file__}")
' | sed "s/^/==> [$TARGET] /" || fail "the patched tree is not what python imports"
    local log="$WORK/$TARGET-pytest.log"
    if in_tree "$PYTHON" -m pytest -q -p no:cacheprovider --rootdir="$TREE" "${NEW_TESTS[@]}" "${EXISTING_TESTS[@]}" \
        >"$log" 2>&1; then
        echo "==> [$TARGET] new CPU tests and verl's platform tests on the patched tree:" \
             "$(grep -E '^[0-9]+ passed' "$log" | tail -n 1)"
        printf '    %s\n' "${NEW_TESTS[@]}" "${EXISTING_TESTS[@]}"
    else
        tail -n 60 "$log"
        fail "the tests on the patched tree"
    fi
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
