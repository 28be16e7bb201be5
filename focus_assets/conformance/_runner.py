"""Runs inside the validator's own environment (.venv-validator, Python 3.12): stdlib and
focus_validator only, nothing from focus_assets.

`python _runner.py probe` prints the installed focus-validator's version and package folder (no
heavy import). `python _runner.py run JOBS.json` runs each job, a list of command-line arguments,
through the validator's own command-line entry point (`focus_validator.main.main`, what the
`focus-validator` script calls) in this one process: the same parsing, validation and JUnit XML
as the script, without paying its ~1.5 s of imports once per file. It runs in the working
directory it is given (which holds focus_validator/rules/currency_codes.csv) and prints one JSON
line per job: {"output": ..., "error": null or the exception}.
"""

import importlib.metadata
import importlib.util
import json
import sys
import traceback


def probe() -> None:
    spec = importlib.util.find_spec("focus_validator")
    folder = spec.submodule_search_locations[0] if spec and spec.submodule_search_locations else None
    print(
        json.dumps(
            {
                "version": importlib.metadata.version("focus-validator"),
                "package": folder,
                "python": sys.version.split()[0],
            }
        )
    )


def run(jobs_file: str) -> None:
    from focus_validator.main import main

    with open(jobs_file, encoding="utf-8") as handle:
        jobs = json.load(handle)
    for arguments in jobs:
        output = arguments[arguments.index("--output-destination") + 1]
        error = None
        sys.argv = ["focus-validator", *arguments]
        try:
            main()
        except SystemExit as exc:  # argparse and the validator exit on bad arguments
            if exc.code not in (None, 0):
                error = f"exited with {exc.code}"
        except Exception:  # one bad file must not stop the others
            error = traceback.format_exc(limit=3)[-2000:]
        print(json.dumps({"output": output, "error": error}), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["probe"]:
        probe()
    elif sys.argv[1:2] == ["run"] and len(sys.argv) == 3:
        run(sys.argv[2])
    else:
        sys.exit("usage: _runner.py probe | run JOBS.json")
