#!/usr/bin/env bash
# The demo image's commands:
#   lab       JupyterLab on :8888 with the kit's notebooks open (token: $JUPYTER_TOKEN)
#   service   the reference bento (built into the image) on :3000
#   anything else runs as a command, e.g. `bash` or `python -m bentokit demo`.
set -euo pipefail
cd "$KIT_HOME"
case "${1:-lab}" in
  lab)
    # Open every notebook of notebooks/ as a tab: a JupyterLab workspace, imported before start.
    python - <<'PY' > /tmp/kit-workspace.json
import json, pathlib
notebooks = sorted(p.as_posix() for p in pathlib.Path("notebooks").glob("*.ipynb"))
widgets = [f"notebook:{path}" for path in notebooks]
data = {f"notebook:{path}": {"data": {"path": path, "factory": "Notebook"}} for path in notebooks}
data["layout-restorer:data"] = {
    "main": {"dock": {"type": "tab-area", "currentIndex": 0, "widgets": widgets},
             "current": widgets[0] if widgets else None},
    "left": {"collapsed": False, "current": "filebrowser", "widgets": ["filebrowser"]},
    "right": {"collapsed": True, "widgets": []},
}
data["file-browser-filebrowser:cwd"] = {"path": "notebooks"}
print(json.dumps({"data": data, "metadata": {"id": "default"}}))
PY
    jupyter lab workspaces import /tmp/kit-workspace.json >/dev/null
    exec jupyter lab --ip=0.0.0.0 --port=8888 --no-browser --ServerApp.root_dir="$KIT_HOME"
    ;;
  service)
    exec bentoml serve "${KIT_BENTO:-credit_risk_classifier:latest}" --host 0.0.0.0 --port 3000
    ;;
  *)
    exec "$@"
    ;;
esac
