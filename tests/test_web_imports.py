"""The web process stays light: building the whole app imports no torch, timm or umap.

Models run on workers; the design keeps the web process to numpy-level code so that it
starts fast, stays small and never touches CUDA.
"""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torchvision", "timm", "umap")


def test_building_the_app_imports_no_model_library(tmp_path):
    home = str(tmp_path)
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from settings import Settings\n"
        "import app\n"
        f"settings = Settings(home=Path({home!r}), data_roots=(Path({home!r}),))\n"
        "app.create_app(settings, resume_scans=False)\n"
        f"print(sorted(name for name in {HEAVY!r} if name in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout
