"""The project's wiring: dvc.yaml, params.yaml, notebooks and the exported library agree."""
import ast, json, re
from pathlib import Path

import nbformat
from ecomml.core import pipeline_cells
import papermill as pm
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ALL = yaml.safe_load((ROOT/'dvc.yaml').read_text())['stages']
DVC = {k: v for k, v in ALL.items() if k != 'params'}          # the chapter stages (`params` checks params.yaml, below)
PARAMS = yaml.safe_load((ROOT/'params.yaml').read_text())
NBS = sorted((ROOT/'nbs').glob('[0-9][0-9]*.ipynb'))


def notebook(stage): return next(p for p in NBS if re.fullmatch(rf'\d\d[a-z]?_{stage}', p.stem))


def source(p): return '\n'.join(c.source for c in nbformat.read(p, as_version=4).cells if c.cell_type == 'code')


@pytest.mark.parametrize('stage', list(DVC))
def test_stage_declares_what_its_notebook_reads(stage):
    nb, spec = notebook(stage), DVC[stage]
    assert spec['cmd'] == f'ecomml-stage {stage}'
    declared = spec['params']
    for section in pm.inspect_notebook(str(nb)):
        used = set(re.findall(rf"\b{section}\[['\"](\w+)['\"]\]", source(nb)))
        if section in declared: continue
        if re.search(rf"\*\*{section}\b", source(nb)): pytest.fail(f'{nb.name} passes all of {section}: declare the section')
        assert used, f'{nb.name} names {section} but never reads it'
        assert {f'{section}.{k}' for k in used} <= set(declared), f'{stage}: dvc.yaml params miss {used}'
    # every declared parameter exists
    for p in declared:
        node = PARAMS
        for k in p.split('.'): node = node[k]


@pytest.mark.parametrize('stage', list(DVC))
def test_stage_deps_and_outs(stage):
    nb, spec = notebook(stage), DVC[stage]
    deps = set(spec['deps'])
    assert f'nbs/{nb.name}' in deps
    ran = '\n'.join(c.source for c in pipeline_cells(nbformat.read(nb, as_version=4)).cells if c.cell_type == 'code')   # what the stage runs: not the tests
    mods = set(re.findall(r'from ecomml\.(\w+) import|import ecomml\.(\w+)', ran))
    todo, seen = {a or b for a, b in mods} | {nbformat.read(nb, as_version=4).cells[0].source.split()[-1]}, set()
    while todo:                     # and what those modules import, in turn
        m = todo.pop(); seen.add(m)
        todo |= set(re.findall(r'^from \.(\w+) import', (ROOT/'ecomml'/f'{m}.py').read_text(), re.M)) - seen
    for m in seen:
        assert f'ecomml/{m}.py' in deps, f'{stage} imports ecomml.{m} (directly or through another module) but does not depend on it'
    if 'ecomml/dashboard_page.py' in deps:      # the JavaScript it inlines is a file of the package
        from ecomml.dashboard_page import PLOTLY_JS
        assert f'ecomml/static/{PLOTLY_JS}' in deps; deps = deps - {f'ecomml/static/{PLOTLY_JS}'}
    unused = {d for d in deps if d.startswith('ecomml/')} - {f'ecomml/{m}.py' for m in seen}
    assert not unused, f'{stage} depends on modules it does not import: {sorted(unused)} (a change to them reruns the stage for nothing)'
    outs = set(spec['outs'])
    assert {f'reports/{nb.stem}.ipynb', f'reports/{nb.stem}.html'} <= outs
    assert spec['metrics'] == [{f'reports/metrics/{stage}.json': {'cache': False}}]


@pytest.mark.parametrize('nb', NBS, ids=lambda p: p.name)
def test_parameters_cell_reads_params_yaml(nb):
    "A chapter run on its own (JupyterLab's Run All) takes params.yaml's sections; a stage run injects the same after the cell."
    for section, default in pm.inspect_notebook(str(nb)).items():
        assert default['default'] == f"load_params()['{section}']", f'{nb.name}: the parameters cell must read {section} from params.yaml'


def test_params_stage_checks_every_key_before_the_first_chapter():
    "`params` depends on the whole params.yaml, and the first chapter stage on its output: every stage runs after the check."
    spec = ALL['params']
    assert spec['cmd'] == 'ecomml-params' and spec['params'] == [{'params.yaml': None}]
    out = next(iter(spec['outs'][0]))
    firsts = [s for s, v in DVC.items() if not any(d.startswith(('data/interim', 'data/features', 'data/scores', 'models')) for d in v['deps'])]
    assert firsts == ['ingest'] and out in DVC['ingest']['deps']


@pytest.mark.parametrize('nb', sorted((ROOT/'nbs').glob('*.ipynb')), ids=lambda p: p.name)
def test_notebooks_are_clean_chapters(nb):
    book = nbformat.read(nb, as_version=4)
    assert book.metadata.kernelspec.name == 'python3'
    assert not any(c.get('outputs') for c in book.cells if c.cell_type == 'code'), 'commit notebooks without outputs'
    first = book.cells[0].source
    assert first.startswith('#| default_exp '), 'a chapter starts with #| default_exp'
    assert re.match(r'# .+\n> .+', book.cells[1].source), 'then a # Title and a > summary'
