"""The MD5 of every file the pipeline writes that must not change when it is rerun with the same params: the clean data,
the feature store, the scores, the model files and the metrics and plot tables (not the HTML reports, which carry run times).
CI prints it before and after `dvc repro -f` and compares: same params, same results."""
import hashlib
from pathlib import Path

for folder in ['data/interim', 'data/features', 'data/scores', 'models', 'reports/metrics', 'reports/plots']:
    for p in sorted(Path(folder).rglob('*')):
        if p.is_file(): print(hashlib.md5(p.read_bytes()).hexdigest(), p)
