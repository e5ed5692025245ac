"""`ecomml-keys` as a user runs it (issue 34): a new key printed once on stdout and never stored, list, revoke, and clear errors."""
import json
import os
import subprocess
import sys
from pathlib import Path


def keys(*args, env=None, cwd=None):
    return subprocess.run([str(Path(sys.executable).parent/'ecomml-keys'), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=60)


def test_new_list_revoke(tmp_path):
    f = tmp_path/'secrets'/'api_keys.json'
    env = {**os.environ, 'ECOMML_API_KEYS': str(f)}
    r = keys('new', 'crm', env=env)
    key = r.stdout.strip()
    assert r.returncode == 0 and key.startswith('ecomml_') and len(key) == 50 and r.stdout.count('\n') == 1, r     # stdout: the key alone (KEY=$(ecomml-keys new crm))
    assert 'not shown again' in r.stderr and str(f) in r.stderr and key not in r.stderr
    assert key not in f.read_text() and set(json.loads(f.read_text())['crm']) == {'salt', 'hash', 'created'}
    assert oct(f.stat().st_mode & 0o777) == '0o600'
    r = keys('new', 'crm', env=env)
    assert r.returncode == 1 and "a key named 'crm' exists; revoke it first" in r.stderr and r.stdout == ''
    r = keys('list', env=env)
    assert r.returncode == 0 and r.stdout.startswith('crm\t20') and key not in r.stdout
    assert keys('revoke', 'crm', env=env).returncode == 0 and json.loads(f.read_text()) == {}
    r = keys('revoke', 'crm', env=env)
    assert r.returncode == 1 and "no key named 'crm' (the file holds no keys)" in r.stderr
    r = keys('new', 'two words', env=env)
    assert r.returncode == 1 and "key name 'two words'" in r.stderr


def test_the_project_keeps_its_keys_out_of_git(project):
    "Without $ECOMML_API_KEYS the hashes go to .secrets/ in the project, which git ignores."
    env = {k: v for k, v in os.environ.items() if k != 'ECOMML_API_KEYS'}
    r = keys('new', 'me', env=env, cwd=project)
    assert r.returncode == 0 and (project/'.secrets'/'api_keys.json').is_file(), r.stderr
    ignored = subprocess.run(['git', 'check-ignore', '-q', '.secrets/api_keys.json'], cwd=Path(__file__).parents[1])
    assert ignored.returncode == 0
