"""Same data, same params, same decisions on any machine (issue 30): compare the metrics a fresh `dvc repro` wrote
(reports/metrics/*.json, DVC outputs) with the reference committed in .ci/reference_metrics.json (written on the machine of
benchmarks/RESULTS.md).

The stated tolerance: every number within a relative 1e-3 or an absolute 1e-4 of the committed one (the metrics are rounded to
four decimals, so a last-bit difference can move the last digit); every decision (a model's name, a list, a band, a yes/no, a text)
exactly equal. A stage pins what can move a result between machines (ecomml.core.stage_cli: one BLAS and OpenMP thread, OpenBLAS's
Haswell kernels, NumPy's AVX2 paths on any x86-64 CPU with AVX2), so that on such machines the figures are the same to the last bit.
Measured with other arithmetic forced (OpenBLAS's Sandybridge kernels and NumPy's SSE paths, benchmarks/RESULTS.md): 4 of 910
figures moved, by at most 3e-4 (ALS's coverage and NDCG), and no decision.

Run from the project root after `dvc repro`: `python .ci/compare_metrics.py`. Exits 1 and lists every figure that moved.
After a change that moves metrics on purpose: `python .ci/compare_metrics.py --write`, and commit the reference with dvc.lock.
"""
import json, math, sys
from pathlib import Path

RTOL, ATOL = 1e-3, 1e-4


def flat(x, key=''):
    "Leaves of a JSON value as {dotted.key: value}."
    if isinstance(x, dict): return {k: v for kk, vv in x.items() for k, v in flat(vv, f'{key}.{kk}' if key else kk).items()}
    if isinstance(x, list): return {k: v for i, vv in enumerate(x) for k, v in flat(vv, f'{key}[{i}]').items()}
    return {key: x}


def same(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, (int, float)) or not isinstance(b, (int, float)): return a == b
    if isinstance(a, int) and isinstance(b, int): return a == b      # counts (customers, list sizes, flags) exactly
    if math.isnan(a) or math.isnan(b): return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= max(ATOL, RTOL * abs(b))


REFERENCE = Path('.ci/reference_metrics.json')


def main(write=False):
    files = sorted(Path('reports/metrics').glob('*.json'))
    if not files: sys.exit("no reports/metrics/*.json: run `dvc repro` first")
    fresh = {f.name: json.loads(f.read_text()) for f in files}
    if write:
        REFERENCE.write_text(json.dumps(fresh, indent=1, sort_keys=True) + '\n')
        print(f"wrote {REFERENCE}: {len(fresh)} metrics files"); return
    if not REFERENCE.is_file(): sys.exit(f"no {REFERENCE}: write it with --write on the reference machine")
    committed = json.loads(REFERENCE.read_text())
    bad, n = [], 0
    for name in sorted(set(committed) | set(fresh)):
        if name not in committed: bad.append(f"{name}: written by the run, not in the reference"); continue
        if name not in fresh: bad.append(f"{name}: in the reference, not written by the run"); continue
        ref, new = flat(committed[name]), flat(fresh[name])
        for k in sorted(set(ref) | set(new)):
            n += 1
            if k not in new: bad.append(f"{name} {k}: missing (reference {ref[k]!r})")
            elif k not in ref: bad.append(f"{name} {k}: new ({new[k]!r})")
            elif not same(new[k], ref[k]): bad.append(f"{name} {k}: {new[k]!r}, reference {ref[k]!r}")
    print(f"{n} figures in {len(committed)} metrics files compared with {REFERENCE} (numbers within a relative {RTOL:g} or {ATOL:g}, counts and decisions exactly)")
    if bad:
        print(f"{len(bad)} moved:\n" + '\n'.join(f"  {b}" for b in bad[:200]))
        sys.exit(1)
    print("all agree")


if __name__ == '__main__':
    main(write='--write' in sys.argv[1:])
