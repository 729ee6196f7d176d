"""`python -m devstack.asyncapi` (`make docs`): write the AsyncAPI document of the events of
every service of the platform to `docs/asyncapi.yaml` (see `common.events.asyncapi`)."""

from __future__ import annotations

from pathlib import Path

import yaml

from common.events.asyncapi import asyncapi_document
from devstack.platform import REPO_ROOT, SPECS

ASYNCAPI_FILE = REPO_ROOT / "docs" / "asyncapi.yaml"
HEADER = "# Made from the code by `make docs` (python -m devstack.asyncapi); do not edit.\n"


def asyncapi_yaml() -> str:
    """The document as it is committed."""
    document = asyncapi_document(list(SPECS.values()))
    dumped: str = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    return HEADER + dumped


def main(path: Path = ASYNCAPI_FILE) -> None:
    path.write_text(asyncapi_yaml())
    print(f"wrote {path.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
