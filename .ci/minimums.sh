#!/usr/bin/env bash
# The declared minimums work: install the lowest versions pyproject.toml allows for each direct
# dependency (uv's `--resolution lowest-direct`; their own dependencies at today's versions), with
# the `web` extra, in a separate venv and smoke-test there: a scripted sweep, score, compare,
# export, report and show; one run through the OpenAI-compatible client (langchain-openai and
# openai at their floors) against a fake server on 127.0.0.1; the live viewer's pages.
# Run by .ci/run after the test suite, in its venv (uv comes with the `dev` extra); about a
# minute on an idle 2-core machine once uv's cache is warm.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
uv=(python -m uv)

"${uv[@]}" venv --quiet --python "$(python -c 'import sys; print(sys._base_executable)')" \
  "$work/venv"
py="$work/venv/bin/python"
"${uv[@]}" pip install --quiet --python "$py" --resolution lowest-direct "$root[web]"
echo "minimums installed:"
"${uv[@]}" pip list --python "$py" 2>/dev/null | grep -Ei '^(langchain|langchain-core|langchain-openai|openai|pydantic|pyyaml|typer|rich|numpy|pandas|scipy|statsmodels|matplotlib|pyarrow|httpx|starlette|uvicorn|jinja2) ' | tr -s ' ' | paste -sd ',' | sed 's/,/, /g'

cd "$work"
cat > smoke.yaml <<'YAML'
name: smoke
scenarios: [two-rivals]
rounds: 4
model: scripted:reactive
factors:
  transparency:
    - [transparent, transparent]
    - [secretive, secretive]
repeats: 3
YAML
dilemma=("$work/venv/bin/dilemma")
"${dilemma[@]}" --version
"${dilemma[@]}" sweep smoke.yaml --out runs/smoke > sweep.log
"${dilemma[@]}" score runs/smoke --json > score.json
"${dilemma[@]}" compare runs/smoke --by transparency --json > compare.json
"${dilemma[@]}" export runs/smoke -o tables > /dev/null
"${dilemma[@]}" report runs/smoke -o report.html > /dev/null
"${dilemma[@]}" show "$(ls runs/smoke/*.jsonl | head -1)" > show.txt
# The sandbox's own modules and the test helpers come from the checkout; every third-party
# package from the minimums venv.
PYTHONPATH="$root" OPENAI_API_KEY=sk-minimums-smoke "$py" - "$work" <<'PY'
import json
import subprocess
import sys
from pathlib import Path

from starlette.testclient import TestClient

from dilemma.web.viewer.app import create_app
from tests.helpers.fake_openai_server import FakeOpenAIServer

work = Path(sys.argv[1])
runs = sorted((work / "runs" / "smoke").glob("*.jsonl"))
assert len(runs) == 6, f"the sweep wrote {len(runs)} records, not 6"
scores = json.loads((work / "score.json").read_text())
assert len(scores) == 6 and all("escalation_index" in run for run in scores)
verdict = json.loads((work / "compare.json").read_text())["verdict"]
assert verdict in {"changes", "equivalent", "inconclusive"}, verdict
with FakeOpenAIServer() as server:
    done = subprocess.run(
        [str(work / "venv" / "bin" / "dilemma"), "run", "two-rivals", "--rounds", "2",
         "--model", "openai:fake-model", "--base-url", server.base_url, "--out", str(work / "api")],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert server.chat_requests(), "no request reached the fake server"
(record,) = (work / "api").glob("*.jsonl")
assert json.loads(record.read_text().splitlines()[-1])["kind"] == "run_end"
client = TestClient(create_app(work / "runs"), base_url="http://127.0.0.1")
key = runs[0].relative_to(work / "runs").as_posix()
for page, params in (("/", {}), ("/api/runs", {}), ("/run", {"path": key})):
    response = client.get(page, params=params)
    assert response.status_code == 200, (page, response.status_code)
print(f"minimums smoke: 6 runs swept, scored, compared ({verdict}), exported; an OpenAI-API run;"
      " the viewer's pages")
PY
