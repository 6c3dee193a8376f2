"""Entry point of the studio.  Until the web UI lands, it runs one demo generation through the CLI.

    python app.py [--model tiny] [--image P] [--prompt T]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path


def main(argv=None) -> int:
    from i2v.cli import main as cli_main

    p = argparse.ArgumentParser(description="I2V Studio demo")
    p.add_argument("--model", default=None)
    p.add_argument("--image", default=None)
    p.add_argument("--prompt", default="a dog jumping over a fence")
    a = p.parse_args(argv)
    image = a.image
    if image is None:  # a picture made here, so the demo needs nothing from the user
        import numpy as np
        from PIL import Image

        y, x = np.mgrid[0:480, 0:640]
        arr = np.stack([x * 200 // 640 + 30, y * 180 // 480 + 40, (x + y) * 120 // 1120 + 60], -1)
        image = str(Path(tempfile.mkdtemp()) / "demo.png")
        Image.fromarray(arr.astype(np.uint8)).save(image)
    args = ["generate", "--image", image, "--prompt", a.prompt, "--preset", "preview"]
    if a.model:
        args += ["--model", a.model]
    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
