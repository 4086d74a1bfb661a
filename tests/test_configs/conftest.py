"""The analysis tools (``tools/analysis_tools``) importable by the config
tests, which build models and batches the way the tools do."""
import sys
from pathlib import Path

sys.path.insert(
    0, str(Path(__file__).resolve().parents[2] / 'tools' / 'analysis_tools'))
