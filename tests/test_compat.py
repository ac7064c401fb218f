"""The compatibility table generator (python -m interopgate.compat)."""

from __future__ import annotations

from interopgate import compat

JUNIT = """<?xml version="1.0"?>
<testsuites><testsuite name="interopgate">
<testcase name="test_echo"><properties>
  <property name="check" value="dicom.association.echo"/><property name="target_name" value="{t}"/>
</properties>{echo}</testcase>
<testcase name="test_store[CRImageStorage]"><properties>
  <property name="check" value="dicom.storage.store"/><property name="target_name" value="{t}"/>
  <property name="known_deviation" value="answers B000 (vendor ticket 7)"/>
</properties><skipped type="pytest.xfail" message="known deviation: answers B000 (vendor ticket 7) [PS3.4 B.2.3]"/></testcase>
<testcase name="test_store[NOTSET]"><properties>
  <property name="check" value="dicom.storage.store"/><property name="target_name" value="{t}"/>
</properties><skipped message="got empty parameter set"/></testcase>
<testcase name="test_unrelated"/>
</testsuite></testsuites>
"""


def test_table_has_a_row_per_check_and_a_column_per_target(tmp_path):
    a = tmp_path / "a.xml"
    a.write_text(JUNIT.format(t="orthanc", echo=""))
    b = tmp_path / "b.xml"
    b.write_text(JUNIT.format(t="dcmtk-dcmqrscp", echo='<failure message="x"/>'))
    out = tmp_path / "docs" / "compatibility.md"
    assert compat.main([str(a), str(b), "-o", str(out)]) == 0
    text = out.read_text()
    assert "| check | orthanc | dcmtk-dcmqrscp |" in text
    assert "| `dicom.association.echo` | pass | **FAIL** |" in text
    assert (
        "| `dicom.storage.store[CRImageStorage]` | known deviation [1] | known deviation [2] |"
        in text
    )
    assert (
        "1. orthanc, `dicom.storage.store[CRImageStorage]`: answers B000 (vendor ticket 7)" in text
    )
    assert "NOTSET" not in text and "unrelated" not in text


def test_bad_input_is_one_sentence(tmp_path, capsys):
    bad = tmp_path / "bad.xml"
    bad.write_text("<not junit")
    assert compat.main([str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"interopgate.compat: error: {bad}: not a readable JUnit XML file")
    assert "Traceback" not in err
    assert compat.main([]) == 2
