"""Run a command as an array of logged jobs: a stand-in for Kaldi's ``run.pl`` and ``slurm.pl``.

Same calling convention as the Kaldi scripts (and hence as ESPnet's ``--cmd``)::

    python -m espnet2_ext.recipe.jobs [options] JOB=1:4 exp/log/stats.JOB.log python -m x --part JOB
    python -m espnet2_ext.recipe.jobs [options] exp/log/train.log python -m espnet2.bin.asr_train ...

The command words are joined with spaces (a word containing whitespace is quoted, so a
separate ``|`` word makes a pipeline) and run by ``bash -o pipefail``, with ``JOB`` replaced by
the job index in every word and in the log path. Each log gets a run.pl-style header and
footer (``# Accounting: time=... threads=...``, ``# Ended (code N) at ...``). The exit status
is 1 if any job failed, after printing which log to read and its last lines.

Backends: ``local`` runs up to ``--max_jobs_run`` jobs at once on this machine (``--gpu``,
``--mem`` and ``--time`` are accepted and ignored, like run.pl). ``slurm`` submits one
``sbatch --wait --array=1-N`` job whose tasks run this module's local backend for one index;
options are translated by a Kaldi ``conf/slurm.conf``-style file (``--config``)::

    command sbatch --export=ALL
    default gpu=0
    option gpu=0 -p cpu
    option gpu=* -p gpu --gres=gpu:$0
    option mem=* --mem $0
"""

import argparse
import concurrent.futures
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from espnet2_ext.errors import DataError, at, cli_entry

_JOB_RANGE = re.compile(r"^([A-Za-z_]\w*)=(\d+)(?::(\d+))?$")
_OPTIONS_WITHOUT_VALUE = ("-h", "--help")
_TAIL_LINES = 20

# Used when no --config is given: no partition names, as those are site-specific.
DEFAULT_SLURM_CONFIG = """\
command sbatch --export=ALL
option time=* --time $0
option mem=* --mem $0
option mem=0
option num_threads=* --cpus-per-task $0
option num_threads=1
option num_nodes=* --nodes $0
option num_nodes=1
default gpu=0
option gpu=0
option gpu=* --gres=gpu:$0
"""


class JobRange(NamedTuple):
    """``JOB=1:4`` -> JobRange("JOB", 1, 4)."""

    var: str
    start: int
    end: int

    def indices(self) -> range:
        return range(self.start, self.end + 1)


@dataclass
class Job:
    """One command run with its log file."""

    command: str
    log: Path


def quote_word(word: str) -> str:
    """Like run.pl: words without whitespace are kept as is (so '|' and '>' act as shell syntax)."""
    return word if word and not any(c.isspace() for c in word) else shlex.quote(word)


def make_jobs(job_range: Optional[JobRange], log: str, words: Sequence[str]) -> List[Job]:
    """One Job per index, with the job variable replaced in the log path and every word."""
    if job_range is None:
        return [Job(" ".join(quote_word(w) for w in words), Path(log))]

    def substitute(text: str, index: int) -> str:
        return text.replace(job_range.var, str(index))

    return [
        Job(" ".join(quote_word(substitute(w, i)) for w in words), Path(substitute(log, i)))
        for i in job_range.indices()
    ]


# --------------------------------------------------------------------------------------- local


def run_job(job: Job, num_threads: int = 1) -> int:
    """Run one job with bash, its output and a run.pl-style header/footer in job.log."""
    job.log.parent.mkdir(parents=True, exist_ok=True)
    start = time.time()
    with open(job.log, "w", encoding="utf-8") as log:
        log.write(f"# {job.command}\n# Started at {time.ctime()}\n#\n")
        log.flush()
        code = subprocess.run(
            ["bash", "-o", "pipefail", "-c", job.command], stdout=log, stderr=subprocess.STDOUT
        ).returncode
        elapsed = round(time.time() - start)
        log.write(
            f"# Accounting: time={elapsed} threads={num_threads}\n"
            f"# Ended (code {code}) at {time.ctime()}, elapsed time {elapsed} seconds\n"
        )
    return code


def run_local(jobs: Sequence[Job], max_jobs_run: Optional[int] = None, num_threads: int = 1) -> List[int]:
    """Run the jobs in parallel (at most max_jobs_run at once); return their exit codes."""
    workers = min(max_jobs_run or len(jobs), len(jobs))
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda job: run_job(job, num_threads), jobs))


def report_failures(jobs: Sequence[Job], codes: Sequence[Optional[int]]) -> int:
    """Print which logs to read (and the first one's tail) to stderr; return the exit status."""
    failed = [job for job, code in zip(jobs, codes) if code != 0]
    if not failed:
        return 0
    first = failed[0].log
    print(f"jobs: {len(failed)} / {len(jobs)} failed, log is in {first}", file=sys.stderr)
    if len(failed) > 1:
        print("jobs: other failed logs: " + " ".join(str(j.log) for j in failed[1:]), file=sys.stderr)
    if first.is_file():
        tail = first.read_text(encoding="utf-8", errors="replace").splitlines()[-_TAIL_LINES:]
        print(f"jobs: last lines of {first}:\n" + "\n".join(tail), file=sys.stderr)
    return 1


# --------------------------------------------------------------------------------------- slurm


@dataclass
class SlurmRule:
    value: str  # "*" matches any value
    args: str  # "$0" is replaced by the value


@dataclass
class SlurmConfig:
    """A Kaldi slurm.pl configuration: base command, default values, option translations."""

    command: List[str]
    defaults: Dict[str, str]
    rules: Dict[str, List[SlurmRule]]
    source: str

    def option_args(self, name: str, value: str) -> List[str]:
        rules = self.rules.get(name, [])
        exact = [r for r in rules if r.value == value]
        rule = (exact or [r for r in rules if r.value == "*"] or [None])[0]
        if rule is None:
            raise at(self.source, None, f"no 'option {name}=...' line matches --{name} {value}")
        return shlex.split(rule.args.replace("$0", value))


def parse_slurm_config(text: str, source: str = "<default slurm config>") -> SlurmConfig:
    """Parse ``command ...``, ``default name=value`` and ``option name=value|* args`` lines."""
    command: List[str] = []
    defaults: Dict[str, str] = {}
    rules: Dict[str, List[SlurmRule]] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        words = line.split("#", 1)[0].split(maxsplit=2)
        if not words:
            continue
        if words[0] == "command" and len(words) > 1:
            command = shlex.split(line.split("#", 1)[0])[1:]
        elif words[0] in ("default", "option") and len(words) > 1 and "=" in words[1]:
            name, value = words[1].split("=", 1)
            if words[0] == "default":
                defaults[name] = value
            else:
                rules.setdefault(name, []).append(SlurmRule(value, words[2] if len(words) > 2 else ""))
        else:
            expected = "'command ...', 'default name=value' or 'option name=value args'"
            raise at(source, lineno, f"expected {expected}: {line!r}")
    if not command:
        raise at(source, None, "no 'command' line (e.g. 'command sbatch --export=ALL')")
    return SlurmConfig(command, defaults, rules, source)


def _job_name(log: str, job_range: Optional[JobRange]) -> str:
    """exp/log/stats.JOB.log -> stats."""
    name = Path(log).name
    if job_range is not None:
        name = name.replace(f".{job_range.var}", "").replace(job_range.var, "")
    return name[: -len(".log")] if name.endswith(".log") else name


def slurm_submission(
    config: SlurmConfig,
    options: Dict[str, Optional[str]],
    job_range: Optional[JobRange],
    log: str,
    words: Sequence[str],
    extra_args: Sequence[str] = (),
    max_jobs_run: Optional[int] = None,
    workdir: Optional[str] = None,
    name: Optional[str] = None,
) -> Tuple[List[str], str, Path]:
    """The sbatch argv, the job script and the script's path (nothing is written or run).

    Each array task re-runs this module's local backend for its own index, so that the log
    header/footer and the JOB substitution are the same as in local runs.
    """
    values = {**config.defaults, **{k: v for k, v in options.items() if v is not None}}
    args = [a for name, value in values.items() for a in config.option_args(name, value)]
    job_range = job_range or JobRange("JOB", 1, 1)
    name = name or _job_name(log, job_range)
    qdir = Path(log).parent / "q"
    script_path = qdir / f"{name}.sh"
    array = f"{job_range.start}-{job_range.end}" + (f"%{max_jobs_run}" if max_jobs_run else "")
    argv = [
        *config.command, *args, *extra_args, "--wait", f"--array={array}", f"--job-name={name}",
        f"--output={qdir / name}.%a.out", str(script_path),
    ]
    task = f"{job_range.var}=${{SLURM_ARRAY_TASK_ID}}:${{SLURM_ARRAY_TASK_ID}}"
    inner = [sys.executable, "-m", "espnet2_ext.recipe.jobs", "--num_threads", values.get("num_threads") or "1"]
    script = (
        "#!/bin/bash\n"
        f"# generated by espnet2_ext.recipe.jobs for {log}\n"
        f"cd {shlex.quote(workdir or os.getcwd())}\n"
        f"exec {' '.join(shlex.quote(w) for w in inner)} \"{task}\" "
        f"{' '.join(shlex.quote(w) for w in [log, *words])}\n"
    )
    return argv, script, script_path


def run_slurm(jobs: Sequence[Job], argv: List[str], script: str, script_path: Path) -> None:
    """Write the job script and submit it, waiting for all array tasks to end."""
    if shutil.which(argv[0]) is None:
        raise DataError(f"{argv[0]}: command not found (the slurm backend needs Slurm's sbatch on PATH)")
    for job in jobs:  # a task that never starts must not leave an old log looking successful
        job.log.unlink(missing_ok=True)
    script_path.parent.mkdir(parents=True, exist_ok=True)
    script_path.write_text(script, encoding="utf-8")
    script_path.chmod(0o755)
    subprocess.run(argv, check=False)


def exit_code_from_log(log: Path) -> Optional[int]:
    """The code in the log's ``# Ended (code N)`` footer; None if the job did not finish."""
    if not log.is_file():
        return None
    found = re.findall(r"^# Ended \(code (-?\d+)\)", log.read_text(encoding="utf-8", errors="replace"), re.M)
    return int(found[-1]) if found else None


# ----------------------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Run a command as logged jobs, like Kaldi's run.pl/slurm.pl: "
        "[options] [JOB=1:N] <log, with JOB> <command words, with JOB>.",
        usage="%(prog)s [options] [JOB=1:N] <log> <command ...>",
        allow_abbrev=False,
    )
    parser.add_argument("--backend", choices=("local", "slurm"), default="local")
    parser.add_argument("--max_jobs_run", "--max-jobs-run", type=int, help="most jobs at once (default: all)")
    parser.add_argument("--name", help="job name (slurm; default: from the log file name)")
    parser.add_argument("--gpu", help="GPUs per job (slurm)")
    parser.add_argument("--mem", help="memory per job, e.g. 4G (slurm)")
    parser.add_argument("--num_threads", "--num-threads", help="CPU threads per job (slurm)")
    parser.add_argument("--num_nodes", "--num-nodes", help="nodes per job (slurm)")
    parser.add_argument("--time", help="time limit per job, e.g. 4:00:00 (slurm)")
    parser.add_argument("--config", help="slurm.pl-style config translating the options into sbatch args")
    parser.add_argument("--slurm_opts", "--slurm-opts", default="", help="extra sbatch arguments")
    return parser


def _split_options(argv: Sequence[str]) -> Tuple[List[str], List[str]]:
    """Leading ``--name value``/``--name=value`` words, then the rest (job range, log, command)."""
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 1 if "=" in argv[i] or argv[i] in _OPTIONS_WITHOUT_VALUE else 2
    return list(argv[:i]), list(argv[i:])


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = _parser()
    head, rest = _split_options(sys.argv[1:] if argv is None else argv)
    opts = parser.parse_args(head)
    match = _JOB_RANGE.match(rest[0]) if rest else None
    job_range = JobRange(match[1], int(match[2]), int(match[3] or match[2])) if match else None
    if match:
        rest = rest[1:]
    if len(rest) < 2:
        parser.error("expected [JOB=1:N] <log> <command ...>")
    log, *words = rest
    if job_range and job_range.end < job_range.start:
        parser.error(f"empty job range {rest[0]}")
    if job_range and job_range.end > job_range.start and job_range.var not in log:
        parser.error(f"several jobs would write the same log {log}: put {job_range.var} in its name")
    jobs = make_jobs(job_range, log, words)
    if opts.backend == "local":
        return report_failures(jobs, run_local(jobs, opts.max_jobs_run, int(opts.num_threads or 1)))
    config = (
        parse_slurm_config(Path(opts.config).read_text(encoding="utf-8"), opts.config)
        if opts.config else parse_slurm_config(DEFAULT_SLURM_CONFIG)
    )
    options = {k: getattr(opts, k) for k in ("gpu", "mem", "num_threads", "num_nodes", "time")}
    extra_args = shlex.split(opts.slurm_opts)
    submission = slurm_submission(
        config, options, job_range, log, words, extra_args, opts.max_jobs_run, name=opts.name
    )
    run_slurm(jobs, *submission)
    return report_failures(jobs, [exit_code_from_log(job.log) for job in jobs])


if __name__ == "__main__":
    sys.exit(main())
