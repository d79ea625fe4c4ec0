"""Child process: build the learner's bento image (``bentoml containerize`` via bentokit.containers).

Run as ``python -m grader.children.image IN OUT``; IN holds ``{"bento", "image", "engine": [name, binary,
version], "home", "timeout", "log"}``. In a child, the build (and the engine's build process under it)
lives in the grader's killable process group: an interrupted grading stops the build too.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bentokit import containers
from grader.children import write_output


def main(in_path: str, out_path: str) -> None:
    job = json.loads(Path(in_path).read_text())
    engine = containers.Engine(*job["engine"])
    try:
        built = containers.build_image(job["bento"], job["image"], engine, timeout=job["timeout"],
                                       log_path=job["log"], env={"BENTOML_HOME": job["home"]})
    except containers.ContainerError as err:
        write_output(out_path, {"error": str(err)})
        return
    try:
        size = built.size()
    except containers.ContainerError:
        size = 0
    write_output(out_path, {"seconds": built.seconds, "size": size})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
