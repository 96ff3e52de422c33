"""The README's "Reports and downloads" examples run as written against the real service over the demo:
the files are workbooks and a CSV with the titles and headers the README describes, and a format the
route cannot produce is refused naming the ones it can."""

from __future__ import annotations

import csv
from pathlib import Path

from openpyxl import load_workbook

from tests.readme_examples import run_section

SECTION = "## Reports and downloads"


def test_the_reports_examples_of_the_readme_run_as_written(empty_database_url: str, tmp_path: Path) -> None:
    done = run_section(empty_database_url, SECTION, tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    assert done.stdout.strip() == "format: Input should be 'json' or 'xlsx'"
    indicators = load_workbook(tmp_path / "indicators.xlsx")
    assert indicators.sheetnames == ["指标", "乡镇", "处理厂"]
    figures = indicators["指标"]
    assert figures["A1"].value == "诸城市农村环卫指标" and figures.freeze_panes == "A5"
    assert [c.value for c in figures[4]] == ["指标", "本系统（实时）", "公开数据", "单位"]
    with open(tmp_path / "indicators-en.csv", encoding="utf-8-sig", newline="") as f:
        header, city, *towns = list(csv.reader(f))
    assert header[:3] == ["code", "name", "population (people)"] and city[:3] == [
        "370782",
        "Zhucheng",
        "1100000",
    ]
    assert len(towns) == 14
    gaps = load_workbook(tmp_path / "gaps.xlsx")
    assert gaps["空白区"]["A1"].value == "服务空白区报告：乡镇垃圾压缩中转站，3,000 米"
    integrity = load_workbook(tmp_path / "integrity.xlsx")
    summary = integrity["概况"]
    assert (
        summary["A1"].value == "收运链完整性检查"
        and summary["A5"].value == "错误"
        and summary["B5"].value == 0
    )
