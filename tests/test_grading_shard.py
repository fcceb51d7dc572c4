"""Grading a class on several machines (course_utils.grading.shard): shares, merge, the Kubernetes Job.

The per-student grading is replaced by a stand-in (rows computed from the student's name) where only the
sharding and merging are under test; the last test runs the real command line on submissions that need no
kernel.
"""

import csv
import hashlib
import os
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from course_utils import grading
from course_utils.grading import batch, cli, shard

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "docs" / "grading" / "grade-job.yaml"


def fake_grade_submission(student, path, problem, key, opts, cancel=None, log=None):
    """Rows that depend only on the student's name: whatever machine grades them, they are the same."""
    n = int(hashlib.md5(student.encode()).hexdigest(), 16)
    return [(student, c["grade_id"], str(n >> i & 1), "1", "passed" if n >> i & 1 else "failed", f"r{i}")
            for i, c in enumerate(c for c in key["cells"] if c["role"] == "check")]


@pytest.fixture(scope="module")
def class_of_40(tmp_path_factory):
    base = tmp_path_factory.mktemp("class")
    grading.release(ROOT / "homework" / "source", base / "release", base / "keys")
    blank = (base / "release" / "hw1_autograd.ipynb").read_text(encoding="utf-8")
    for i in range(40):
        (base / "subs").mkdir(exist_ok=True)
        (base / "subs" / f"student_{i:02d}.ipynb").write_text(blank, encoding="utf-8")
    return base


def read(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return [tuple(r) for r in csv.reader(fh)]


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_merged_shards_equal_the_single_machine_report_row_for_row(class_of_40, tmp_path, monkeypatch, count):
    monkeypatch.setattr(batch, "grade_submission", fake_grade_submission)
    key = class_of_40 / "keys" / "hw1_autograd.json"
    opts = grading.Options(sandbox=False)
    single = grading.grade(class_of_40 / "subs", key, tmp_path / "single.csv", jobs=3, opts=opts)
    parts = []
    for i in range(1, count + 1):
        parts.append(tmp_path / f"REPORT_{i}.csv")
        grading.grade(class_of_40 / "subs", key, parts[-1], jobs=2, opts=opts, shard_spec=(i, count))
    shard.merge(parts[::-1], tmp_path / "merged.csv")  # the order of the parts does not matter
    assert read(tmp_path / "merged.csv") == read(tmp_path / "single.csv")
    assert read(tmp_path / "single.csv")[0][0].startswith("# WARNING: graded with --no-sandbox")
    assert [tuple(r) for r in single] == read(tmp_path / "single.csv")[2:]
    # each student in exactly one part, the part an independent hash says
    for i, part in enumerate(parts, start=1):
        students = {row[0] for row in read(part)[2:]}
        assert students == {f"student_{k:02d}" for k in range(40)
                            if int(hashlib.sha256(f"student_{k:02d}".encode()).hexdigest()[:12], 16) % count
                            == i - 1}


def test_shard_arguments_are_checked():
    assert shard.parse_shard("2/5") == (2, 5) and shard.parse_shard(" 1 / 1 ") == (1, 1)
    for bad in ("0/3", "4/3", "1/0", "a/b", "1", "-1/2"):
        with pytest.raises(ValueError, match="allowed: I/N"):
            shard.parse_shard(bad)
    with pytest.raises(ValueError, match="count=0"):
        shard.shard_of("ann", 0)


def test_merge_refuses_a_student_in_two_parts_and_a_file_that_is_not_a_report(tmp_path):
    header = ",".join(grading.REPORT_COLUMNS)
    (tmp_path / "a.csv").write_text(f"{header}\nann,hw1_ex1,1,1,passed,ok\n", encoding="utf-8")
    (tmp_path / "b.csv").write_text(f"{header}\nann,hw1_ex2,0,2,failed,no\n", encoding="utf-8")
    (tmp_path / "c.csv").write_text("name,score\nann,3\n", encoding="utf-8")
    (tmp_path / "d.csv").write_text(f"{header}\nann,hw1_ex1,1,1,great,ok\n", encoding="utf-8")
    with pytest.raises(ValueError, match="'ann' is in both"):
        shard.merge([tmp_path / "a.csv", tmp_path / "b.csv"], tmp_path / "out.csv")
    with pytest.raises(ValueError, match="not a grading report"):
        shard.merge([tmp_path / "c.csv"], tmp_path / "out.csv")
    with pytest.raises(ValueError, match="row 2 is malformed"):
        shard.merge([tmp_path / "d.csv"], tmp_path / "out.csv")
    assert cli.main(["merge", str(tmp_path / "c.csv"), "--out", str(tmp_path / "out.csv")]) == 2


def test_shards_and_merge_from_the_command_line(tmp_path, capsys):
    """The real grader, on submissions it rejects without starting a kernel."""
    grading.release(ROOT / "homework" / "source", tmp_path / "release", tmp_path / "keys")
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ("ann", "bob", "cy", "dee", "eve"):
        (subs / f"{name}.ipynb").write_text("{not json", encoding="utf-8")
    (subs / "fay").mkdir()
    key = str(tmp_path / "keys" / "hw1_autograd.json")
    base = ["grade", str(subs), "--key", key, "--no-sandbox"]
    assert cli.main([*base, "--out", str(tmp_path / "all.csv")]) == 0
    for i in (1, 2, 3):
        assert cli.main([*base, "--out", str(tmp_path / f"REPORT_{i}.csv"), "--shard", f"{i}/3"]) in (0, 1)
    assert cli.main(["merge", *(str(tmp_path / f"REPORT_{i}.csv") for i in (1, 2, 3)),
                     "--out", str(tmp_path / "merged.csv")]) == 0
    assert read(tmp_path / "merged.csv") == read(tmp_path / "all.csv")
    assert len(read(tmp_path / "all.csv")) == 1 + 1 + 6  # the warning, the header, one row per student
    assert "merged 3 report(s): 6 students, 6 rows" in capsys.readouterr().out


# ----------------------------------------------------------------------------------------- Kubernetes

def test_the_kubernetes_job_runs_the_documented_command_once_per_shard():
    docs = list(yaml.safe_load_all(MANIFEST.read_text(encoding="utf-8")))
    job = next(d for d in docs if d["kind"] == "Job")
    spec, pod = job["spec"], job["spec"]["template"]["spec"]
    assert spec["completionMode"] == "Indexed" and spec["completions"] >= 2
    container = pod["containers"][0]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert container["image"] == "registry.example.edu/dl-course:2026-11" and container["image"] in readme
    assert pod["automountServiceAccountToken"] is False and pod["restartPolicy"] == "Never"
    assert container["command"] == ["bash", "-c"]
    outs, shards = set(), []
    for index in range(spec["completions"]):
        line = subprocess.run(["bash", "-c", 'eval "printf %s \\"$0\\""', container["args"][0]],
                              env={**os.environ, "JOB_COMPLETION_INDEX": str(index)}, capture_output=True,
                              text=True, check=True).stdout
        words = shlex.split(line)
        assert words[:4] == ["python", "-m", "course_utils.grading", "grade"]
        args = cli._parser().parse_args(words[3:])  # the grader's own parser accepts it
        assert args.key.startswith("/keys/") and args.jobs == 2 and not args.no_sandbox
        shards.append(shard.parse_shard(args.shard))
        outs.add(args.out)
    assert shards == [(i, spec["completions"]) for i in range(1, spec["completions"] + 1)]
    assert len(outs) == spec["completions"]  # one report per pod
    policy = next(d for d in docs if d["kind"] == "NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"] and "egress" not in policy["spec"]
