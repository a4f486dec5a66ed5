"""The Lambdas' own layer: PyIceberg, PyYAML, sqlglot and what they need beyond the managed
layers and runtime.

AWS SDK for pandas' managed layer brings pandas, pyarrow and numpy, the runtime brings boto3;
PyIceberg is in neither, and without Docker it cannot be bundled by CDK, so this module builds
the layer folder with pip (Linux x86_64 wheels for the Lambda runtime's Python, versions from
constraints.txt) and leaves out what the Lambdas never use: PyIceberg's CLI (click, rich,
pygments), its Hive catalog, libyaml's bindings and the compiled bytecode of the build
machine's Python.

`python -m infra.layer` builds it (make synth and make test do); it is rebuilt only when the
pins change.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAYER_DIR = REPO / "build" / "iceberg-layer"
# PyYAML reads the source profiles (retail_etl/adapters/sources.py); pydantic, which validates
# them, comes with PyIceberg; sqlglot splits the warehouse's SQL scripts (adapters/warehouse.py)
PACKAGES = ("pyiceberg==0.12.0", "PyYAML==6.0.4", "sqlglot==30.30.0")
PLATFORMS = ("manylinux_2_34_x86_64", "manylinux_2_28_x86_64", "manylinux_2_17_x86_64")
LAMBDA_PYTHON = "3.13"
UNUSED = (
    "bin",
    "click",
    "rich",
    "pygments",
    "markdown_it",
    "mdurl",
    "hive_metastore",
    "fb303",
    "pyiceberg/cli",
    "zstandard/_cffi.cpython-313-x86_64-linux-gnu.so",
    # libyaml's bindings (2.8 MB): only its C loaders use them; the profiles are read with
    # yaml.safe_load, pure Python, and PyYAML imports without them
    "yaml/_yaml.cpython-313-x86_64-linux-gnu.so",
)


# Lambda counts a function's code and all its layers against 250 MB unzipped. The managed
# layers' sizes cannot be read offline; these are upper estimates, measured by installing the
# same wheels for CPython 3.13 x86_64 and trimming them as AWS's layer builds do (no boto3,
# tests or bytecode; shared objects stripped): 185 MiB for AWS SDK for pandas 3.17.1
# (pyarrow 101, pandas 30, numpy 45), and a 15 MiB allowance for Powertools 3.37.0.
LAMBDA_UNZIPPED_LIMIT = 250_000_000
MANAGED_LAYERS_BYTES = (185 + 15) << 20


def _stamp() -> str:
    pins = (REPO / "constraints.txt").read_bytes() + "\n".join(PACKAGES + UNUSED).encode()
    return hashlib.sha256(pins + Path(__file__).read_bytes()).hexdigest()


def build(target: Path = LAYER_DIR) -> Path:
    """Build the layer folder (target/python/...) unless it is up to date."""
    stamp = target / ".stamp"
    if stamp.exists() and stamp.read_text() == _stamp():
        return target
    shutil.rmtree(target, ignore_errors=True)
    site = target / "python"
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--target", str(site), *platforms, "--implementation", "cp",
            "--python-version", LAMBDA_PYTHON, "--only-binary=:all:", "--no-compile",
            "-c", str(REPO / "constraints.txt"), *PACKAGES,
        ],
        check=True,
    )  # fmt: skip
    for name in UNUSED:
        path = site / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    for cache in site.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)
    stamp.write_text(_stamp())
    return target


def unzipped_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


if __name__ == "__main__":
    print(build())
