"""Same params, same results, checked against a run on another day: the MD5 that this run's dvc.lock records for every data,
score, model, metrics and plot output (the files .ci/fingerprint.py lists; not the HTML reports, which carry run times)
against the committed dvc.lock's.  Exit 0 when all are equal; else print the ones that differ and exit 1, and CI reruns
every stage here (dvc repro -f) to tell a code change that moved an output from a run that is not reproducible."""
import subprocess, sys
from pathlib import Path

import yaml

KEPT = ('data/interim', 'data/features', 'data/scores', 'models', 'reports/metrics', 'reports/plots')

def outs(lock: dict) -> dict:
    "path -> md5 of every stage output under KEPT."
    return {o['path']: o.get('md5') for st in lock.get('stages', {}).values() for o in st.get('outs', [])
            if o['path'].startswith(KEPT)}

committed = outs(yaml.safe_load(subprocess.run(['git', 'show', 'HEAD:dvc.lock'], capture_output=True, text=True, check=True).stdout))
now = outs(yaml.safe_load(Path('dvc.lock').read_text()))
differ = sorted(p for p in committed.keys() | now.keys() if committed.get(p) != now.get(p))
for p in differ: print(f'{p}: committed {committed.get(p)}, this run {now.get(p)}')
print(f'{len(now) - len(differ)} of {len(now)} outputs equal the committed dvc.lock' + ('' if differ else ': the run reproduced it byte for byte'))
sys.exit(1 if differ else 0)
