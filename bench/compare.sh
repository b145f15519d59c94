#!/usr/bin/env bash
# One benchmark at another revision and at the working tree, in one session, both printed.
#
#   bench/compare.sh REV bench/blast.py --messages 20000 --latency-ms 50
#   bench/compare.sh --rounds 2 HEAD~3 bench/webhooks.py --events 20000 --batch 1000
#
# Machines of this kind differ about 2x in speed and a busy one differs from itself, so a
# figure means something only beside its baseline taken minutes apart on the same machine.
# REV is checked out in a scratch worktree and run with this venv's Python, its own package
# first on the path (PYTHONPATH, which subprocesses and spawned workers inherit), compiled to
# bytecode as `make` compiles the working tree's. By default the working tree's bench/ is used
# at both revisions, so one harness measures two codes; --own-bench runs REV's own scripts
# (for a harness the older code cannot run). Rounds alternate REV and the working tree. The
# last line is one JSON object: each run's result and, for every number both report, the ratio
# working tree / REV.
set -euo pipefail
rounds=1
own_bench=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --own-bench) own_bench=1; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) break ;;
  esac
done
if [ $# -lt 2 ]; then
  echo "usage: bench/compare.sh [--rounds N] [--own-bench] REV bench/SCRIPT.py [ARGS...]" >&2
  exit 2
fi
rev=$1; script=$2; shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$root/.venv/bin/python}
[ -x "$python" ] || { echo "no Python at $python: run 'make .venv/.installed' first" >&2; exit 2; }
sha=$(git -C "$root" rev-parse --verify --quiet "$rev^{commit}") \
  || { echo "unknown revision: $rev" >&2; exit 2; }
scratch=$(mktemp -d)
base="$scratch/base"
cleanup() { git -C "$root" worktree remove --force "$base" >/dev/null 2>&1 || true
            rm -rf "$scratch"; }
trap cleanup EXIT
git -C "$root" worktree add --detach --quiet "$base" "$sha"
if [ "$own_bench" -eq 0 ]; then
  rm -rf "$base/bench" && cp -r "$root/bench" "$base/bench"
fi
"$python" -m compileall -q "$base/outreach" "$root/outreach"

run() {  # run LABEL TREE OUT ARGS...: the script and the package both from TREE
  local label=$1 tree=$2 out=$3
  shift 3
  echo "== $label ($tree): $script $*" >&2
  (cd "$tree" && PYTHONPATH="$tree" "$python" "$tree/$script" "$@") >"$out" \
    || echo "== $label: exit status $?" >&2
}
for round in $(seq "$rounds"); do
  run "$rev" "$base" "$scratch/base.$round.json" "$@"
  run "working tree" "$root" "$scratch/head.$round.json" "$@"
done
"$python" - "$rev" "$sha" "$scratch" "$rounds" <<'EOF'
import json, re, sys
from pathlib import Path

rev, sha, scratch, rounds = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])

def result(path):
    """The bench's JSON object: the whole output, or failing that its last line."""
    text = path.read_text() if path.exists() else ""
    try:
        return json.loads(text)
    except ValueError:
        lines = [l for l in text.splitlines() if l.strip().startswith("{")]
        try:
            return json.loads(lines[-1]) if lines else {"error": "no JSON printed"}
        except ValueError:
            return {"error": "unreadable output"}

def ratios(head, base, prefix=""):
    out = {}
    for key, value in head.items():
        other = base.get(key) if isinstance(base, dict) else None
        if isinstance(value, dict) and isinstance(other, dict):
            out.update(ratios(value, other, f"{prefix}{key}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) \
                and isinstance(other, (int, float)) and not isinstance(other, bool) and other:
            out[prefix + key] = round(value / other, 3)
    return out

runs = [{"round": r, "base": result(scratch / f"base.{r}.json"),
         "head": result(scratch / f"head.{r}.json")} for r in range(1, rounds + 1)]
for run in runs:
    run["ratio_head_over_base"] = ratios(run["head"], run["base"])
print(json.dumps({"base_rev": rev, "base_sha": sha, "head": "working tree", "runs": runs}))
EOF
