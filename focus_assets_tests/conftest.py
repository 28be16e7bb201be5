import sys
from pathlib import Path

# Tests import their helpers as a package next to them.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SHARED = Path(__file__).resolve().parents[2] / "shared"
