"""The README documents the public facade: every name it uses from hybridner exists."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import hybridner

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text("utf8"), flags=re.S)


def test_readme_names_are_exported():
    used: set[str] = set()
    for block in _python_blocks():
        for names in re.findall(r"^from hybridner import (.+)$", block, flags=re.M):
            used.update(n.strip() for n in names.split(","))
        used.update(re.findall(r"\bhybridner\.([A-Za-z_]\w*)", block))
    assert used, "the README shows the Python API"
    # hybridner.<submodule> (such as hybridner.spark, an optional extra) is fine too
    missing = sorted(
        n for n in used
        if n not in hybridner.__all__ and importlib.util.find_spec(f"hybridner.{n}") is None
    )
    assert not missing, f"README uses names the facade does not export: {missing}"


def test_readme_submodule_names_exist():
    """Names used as hybridner.<module>.<name> exist in that module."""
    for block in _python_blocks():
        for module, name in re.findall(r"\bhybridner\.([a-z_]+)\.([A-Za-z_]\w*)", block):
            if importlib.util.find_spec(f"hybridner.{module}") is None:
                continue
            source = (Path(hybridner.__file__).parent / f"{module}.py").read_text("utf8")
            assert re.search(rf"^def {name}\b|^class {name}\b|^{name} =", source, re.M), (
                f"README uses hybridner.{module}.{name}, which does not exist"
            )


def test_readme_rule_example_is_valid_rule_file(tmp_path, nlp):
    block = next(b for b in _python_blocks() if "# rules/drugs.py" in b)
    (tmp_path / "drugs.py").write_text(block, "utf8")
    functions = hybridner.load_rules(tmp_path)
    assert [f.name for f in functions] == ["drug_suffix", "treatment_cues", "dose_mg"]
    doc = nlp("She was started on lisinopril 10 mg after being diagnosed with gout .")
    for function in functions:
        function(doc)
    assert [s.text for s in doc.spans["drug_suffix"]] == ["lisinopril"]
    assert [(s.text, s.label_) for s in doc.spans["treatment_cues"]] == [
        ("lisinopril", "Drug"),
        ("gout", "Disease"),
    ]
    assert [s.text for s in doc.spans["dose_mg"]] == ["10 mg"]
