import re
from pathlib import Path


def test_readme_quickstart_runs():
    text = (Path(__file__).parents[1] / "README.md").read_text()
    block = re.search(r"## Quickstart\n\n```python\n(.*?)```", text, re.S)
    assert block is not None
    namespace: dict = {}
    exec(compile(block.group(1), "README-quickstart", "exec"), namespace)
    assert namespace["info"]["round"] >= 1
