"""The explorer's selection store comes back from the browser, so any JSON may arrive in it:
a selection that names no saved selection is said on the page, never a server error.

The app is built in a subprocess (Dash's callback registry is global to a process), and
its callbacks are called as the browser calls them.
"""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BAD_SELECTIONS = [{"projection": "1", "key": "0123456789abcdef"},
                  {"projection": 1.5, "cluster": 0},
                  {"projection": None, "key": ["../../etc"]},
                  {"projection": 1, "cluster": "rings"},
                  "not a selection", 7]

SCRIPT = """
import json, sys
from pathlib import Path
import app
from settings import Settings
home = Path(sys.argv[1])
dash_app = app.create_app(Settings(home=home, data_roots=(home,), cache_url="null://"),
                          resume_scans=False)
client = dash_app.server.test_client()
client.get("/_dash-layout")
answers = []
for output, inputs in json.loads(sys.argv[2]):
    key = next(k for k in dash_app.callback_map if k.lstrip(".").startswith(output))
    spec = dash_app.callback_map[key]
    outputs = [{"id": part.split(".")[0], "property": part.split(".")[1].split("@")[0]}
               for part in key.strip(".").split("...")]
    body = {"output": key, "outputs": outputs if key.startswith("..") else outputs[0],
            "inputs": [{**entry, "value": inputs.get(entry["id"])} for entry in spec["inputs"]],
            "state": [], "changedPropIds": [spec["inputs"][0]["id"] + ".data"]}
    answer = client.post("/_dash-update-component", json=body)
    answers.append([answer.status_code, answer.get_data(as_text=True)])
print(json.dumps(answers))
"""


def test_selections_the_page_did_not_save_are_said_not_raised(tmp_path):
    calls = [[output, {"explorer-selection": selection, "explorer-statistic": "mean",
                       "explorer-revision": 0}]
             for selection in BAD_SELECTIONS
             for output in ("explorer-summary.children", "explorer-heatmap.figure")]
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), json.dumps(calls)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout.strip().splitlines()[-1])
    for (output, inputs), (status, body) in zip(calls, answers):
        assert status == 200, (output, inputs, body[:300])
        assert "select" in body, (output, inputs, body[:300])  # says what to do
