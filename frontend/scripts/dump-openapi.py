"""Write the server's OpenAPI document, for generating the web app's typed API client.

Run with the project's virtualenv: ``../.venv/bin/python scripts/dump-openapi.py openapi.json``
(``npm run api:generate`` does this and then runs openapi-typescript). The app is built on a
throwaway data directory, so nothing of the user's is touched.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path


def main(target: str) -> None:
    with tempfile.TemporaryDirectory(prefix="terrascan-openapi-") as data_dir:
        os.environ["TERRASCAN_DATA_DIR"] = data_dir
        # Imported only now, after the environment names the throwaway data directory.
        from terrascan.api.app import create_app

        document = create_app().openapi()
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "openapi.json")
