"""The grading sandbox: each submission's kernel in bubblewrap, under limits.

nbgrader starts the submission's kernel as the grader's own user, with the course, the
gradebook and every other submission on disk. Here the kernel is started through
``bwrap`` (Debian's ``bubblewrap``) and ``prlimit``, and sees:

* the system (``/usr``, ``/etc``), Python and the course's code (``helpers/``,
  ``exercises/``, ``grader/``, first on its ``PYTHONPATH``): read only;
* the weights and datasets of its profile, fetched by the grader (grader/assets.py), where
  the course's online code finds them, and :attr:`Sandbox.read_only_paths`: read only;
* a copy of its submission's files: writable; nothing it leaves there is read back, so a
  link or a named pipe it makes is never followed by nbgrader (the answer runner, started
  with the same command, writes its records to a folder of its own, read back as data, and
  reads its inputs from one it may not write);
* a private, empty ``/tmp`` (in memory, of at most :attr:`Sandbox.disk_mb`) that is also its
  home and its course cache, and a private ``/dev/shm`` of :data:`SHM_MB` (semaphores);
* no network (only its own loopback), no other process (its own PID namespace): it cannot
  see or signal the grader, and it dies with it;
* no capabilities, so it cannot remount what it sees read-only, nor make a user namespace;
* an unprivileged user: the grader's own, or, when root grades, a user of its own
  (:func:`kernel_uid`), since root without capabilities may still write host-wide
  settings; and ``/proc/sys`` read only whoever grades.

It does not see the instructor's sources, the gradebook, the course secret or any other
submission. It talks to the grader through Unix sockets in a private folder (ZeroMQ's
``ipc`` transport), since it has no network.

The limits (all in :class:`Sandbox`, set as ``c.Sandbox.<name>`` in ``nbgrader_config.py``)
are enforced by :class:`grader.execute.SandboxedExecute`, except memory: ``prlimit
--data`` caps what each of the kernel's processes can allocate (past it, the allocation
raises MemoryError and the kernel goes on), and :class:`LimitWatch` stops the kernel when
its processes together hold more than the cap plus :data:`MEMORY_SLACK_MB` (a kernel that
forks, say); processes: ``prlimit --nproc`` (a fork bomb stops at the cap); and disk:
``/tmp`` is full at the cap (past it, OSError), ``prlimit --fsize`` keeps any one file
under it, and :class:`LimitWatch` stops the kernel when the folders it may write hold more
than the cap together.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import threading
from functools import lru_cache
from pathlib import Path

import psutil
from traitlets import Bool, Dict, Float, Integer, List, Unicode
from traitlets.config import LoggingConfigurable

from grader.assets import (KERNEL_COURSE_CACHE, KERNEL_HOME, KERNEL_KERAS_HOME,
                           KERNEL_TFDS_DATA_DIR, KernelAssets, kernel_profile_name)
from grader.assets import fetch as fetch_assets
from helpers.assets import ASSETS_ENV, CACHE_ENV

#: The course's code the kernel imports: the same folders the grader itself runs from.
COURSE_ROOT = Path(__file__).resolve().parent.parent
COURSE_CODE = [COURSE_ROOT / name for name in ("helpers", "exercises", "grader")]
#: Environment variables passed on to a sandboxed kernel (the rest of the grader's are not).
PASSED_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "PYTHONHASHSEED", "MPLBACKEND")
PASSED_ENV_PREFIXES = ("COURSE_", "KERAS_", "TF_", "OMP_")
#: Resident memory a kernel's processes may hold above ``Sandbox.memory_mb`` together
#: (shared libraries count in resident memory, not in allocations).
MEMORY_SLACK_MB = 1024
#: The profile the reference solution's time is measured in (``make bench``), and those whose
#: notebooks' limits are scaled from it: the smoke profile runs the same cells on less data.
REFERENCE_PROFILE = "quick"
SCALED_PROFILES = ("quick", "smoke")
#: The size of the kernel's private /dev/shm, in MiB: semaphores need a few bytes each.
SHM_MB = 16
#: The answer runner's limit: this share of its notebook's, at least this many seconds.
ANSWERS_SHARE = 0.5
ANSWERS_FLOOR = 30
#: Inside the sandbox: the private /tmp, which is also the kernel's home.
PRIVATE_TMP = KERNEL_HOME


#: When root grades, each kernel runs as the user this plus twice its grading process's PID,
#: and its answer runner as the next one: users no other process on the host has (PIDs stay
#: below 2**22), so the process cap of each counts only its own processes (a kernel's fork
#: bomb cannot stop the answers running beside it), neither can touch the other's files,
#: and nothing they make belongs to a real user.
KERNEL_UID_BASE = 1_000_000_000


def kernel_uid(answers: bool = False) -> int | None:
    """The user a kernel (or, with ``answers``, an answer runner) started from this process
    runs as, or None to run it as the grader (not root: it holds no privilege the sandbox
    must take away)."""
    if os.geteuid() != 0:
        return None
    return KERNEL_UID_BASE + 2 * os.getpid() + int(answers)


def parent_folders(insides: list[str]) -> list[str]:
    """bwrap options that make the folders above the mount points ``insides`` (bwrap makes
    them private to root): open to all, and writable by all under the private /tmp."""
    made = set(insides)
    parents = {str(parent) for inside in insides for parent in Path(inside).parents}
    options = []
    for folder in sorted(parents - made - {"/", PRIVATE_TMP}, key=lambda p: p.count("/")):
        if any(folder.startswith(inside.rstrip("/") + "/") for inside in made):
            continue  # inside a mount: it is there already
        under_tmp = folder.startswith(PRIVATE_TMP + "/")
        options += ["--perms", "1777" if under_tmp else "0755", "--dir", folder]
    return options


class SandboxUnavailable(RuntimeError):
    """bubblewrap cannot start a sandbox on this machine."""


class Sandbox(LoggingConfigurable):
    """Where a submission's kernel runs, and its limits: the one place to change them."""

    enabled = Bool(True, help=(
        "Run each submission's kernel in bubblewrap. Where bubblewrap cannot start (macOS, "
        "a container without user namespaces), grading stops and says so, unless "
        "allow_unsandboxed is True.")).tag(config=True)
    allow_unsandboxed = Bool(False, help=(
        "Grade without the sandbox where it cannot start. Only for submissions you trust: "
        "their code runs as you, next to the gradebook and every other submission."
    )).tag(config=True)
    memory_mb = Integer(4096, help=(
        "Memory cap of one kernel, in MiB: what each of its processes may allocate (prlimit "
        "--data: past it, MemoryError), and, plus 1024 MiB, what its processes may hold "
        "together (checked every 0.2 s: past it, the kernel is stopped).")).tag(config=True)
    disk_mb = Integer(1024, help=(
        "Disk one kernel may fill, in MiB: the size of its private /tmp (in memory; past it, "
        "OSError), the largest file it may write (prlimit --fsize), and what the folders it "
        "may write (its submission's copy; the answer runner's records) may hold together, checked every "
        "second: past it, the kernel is stopped. A submission whose files hold more than "
        "this is not graded at all: it scores 0, with the reason.")).tag(config=True)
    cell_timeout = Integer(120, help=(
        "Seconds a cell may run, for cells not tagged `slow`, and for any cell whose "
        "source differs from the released notebook's.")).tag(config=True)
    slow_cell_timeout = Integer(900, help=(
        "Seconds a cell may run when the released notebook tags it `slow` (it trains, or "
        "loads or runs a model over a dataset): answer and test cells matched by grade id, "
        "other cells only if the submission left their source as released.")).tag(config=True)
    submission_timeout = Integer(1800, help=(
        "Seconds one notebook may run in all, at most: what one hostile notebook can cost a "
        "batch. A notebook whose release carries the reference solution's measured time "
        "(make bench) gets timeout_factor times that, at least timeout_floor, up to this."
    )).tag(config=True)
    timeout_factor = Float(5.0, help=(
        "A notebook may run this many times as long as the reference solution took in the "
        f"{REFERENCE_PROFILE} profile (not in the full profile, which gets "
        "submission_timeout).")).tag(config=True)
    timeout_floor = Integer(60, help=(
        "Seconds a notebook may run at least, however fast its reference solution "
        "(the kernel's start and TensorFlow's import on a busy machine).")).tag(config=True)
    assignment_timeouts = Dict(value_trait=Integer(), default_value={}, help=(
        "Seconds per notebook for the assignments named, over every other rule: e.g. "
        "{'06-fine-tuning-cats-vs-dogs': 3600} for a slow machine.")).tag(config=True)
    interrupt_grace = Integer(5, help=(
        "Seconds a cell past its limit gets to stop after the interrupt, before its kernel "
        "is stopped and the notebook's remaining cells are not run.")).tag(config=True)
    output_limit_kb = Integer(1024, help=(
        "Stored output of one notebook, in KiB, counting all that is stored (text, data of "
        "any type, metadata, tracebacks); what comes after is dropped, with a note, except "
        "errors, kept shortened.")).tag(config=True)
    read_only_paths = List(Unicode(), help=(
        "More folders the kernel may read (COURSE_ASSETS, Python and the course's code always)."
    )).tag(config=True)
    devices = List(Unicode(), help=(
        "Devices the kernel may use, e.g. ['/dev/nvidia0', '/dev/nvidiactl', "
        "'/dev/nvidia-uvm'] to grade on a GPU (none by default).")).tag(config=True)
    processes = Integer(1024, help=(
        "Processes and threads one kernel may run at once (prlimit --nproc, counted for the "
        "kernel's own user or user namespace, which its answer runner shares): past it, fork "
        "and thread creation fail. "
        "TensorFlow runs about 3 threads a core.")).tag(config=True)
    program = Unicode("bwrap", help="The bubblewrap program.").tag(config=True)

    def notebook_limit(self, assignment: str, reference: float | None) -> tuple[int, str]:
        """Seconds a notebook of ``assignment`` may run, whose reference solution took
        ``reference`` seconds (None: not measured), and why, for the feedback."""
        if assignment in self.assignment_timeouts:
            return self.assignment_timeouts[assignment], "Sandbox.assignment_timeouts"
        profile = kernel_profile_name(gpu_devices=bool(self.devices))
        if reference is None or profile not in SCALED_PROFILES:
            return self.submission_timeout, "Sandbox.submission_timeout"
        limit = min(self.submission_timeout,
                    max(self.timeout_floor, math.ceil(self.timeout_factor * reference)))
        return limit, (f"{self.timeout_factor:g} times the reference solution's "
                       f"{reference:.0f} s, at least {self.timeout_floor} s, at most "
                       f"{self.submission_timeout} s")

    @staticmethod
    def answers_limit(notebook_limit: int) -> int:
        """Seconds the answer runner may take on the fresh inputs, after a notebook whose
        limit is ``notebook_limit``: :data:`ANSWERS_SHARE` of it, at least
        :data:`ANSWERS_FLOOR` (the answers on small inputs are a part of the notebook's
        work; its start overlaps the kernel's run)."""
        return max(ANSWERS_FLOOR, math.ceil(ANSWERS_SHARE * notebook_limit))

    def check_available(self) -> bool:
        """True to sandbox, False to grade unsandboxed as explicitly asked (``enabled`` off,
        or ``allow_unsandboxed`` where bubblewrap cannot start).

        Raises:
            SandboxUnavailable: bubblewrap cannot start here, and unsandboxed grading was
                not asked for.
        """
        if not self.enabled:
            return False
        problem = bubblewrap_problem(self.program)
        if problem is None:
            return True
        if self.allow_unsandboxed:
            return False
        raise SandboxUnavailable(
            f"cannot sandbox submissions here: {problem}. Grade on a host that can (see "
            f"docs/instructors.md, \"Hosts that can grade\"), or grade only submissions you "
            f"trust with --Sandbox.allow_unsandboxed=True.")

    def readable_paths(self) -> list[Path]:
        """Folders the kernel may read: Python, the course's code, and extras."""
        paths = [Path(sys.prefix), Path(sys.base_prefix), *COURSE_CODE]
        paths += [Path(extra) for extra in self.read_only_paths]
        return [path for path in paths if path.exists()]

    def kernel_assets(self) -> KernelAssets:
        """The weights and datasets of the kernels' profile, fetched on this host (once)."""
        return fetch_assets(kernel_profile_name(gpu_devices=bool(self.devices)))

    def command(self, kernel_cmd: list[str], workdir: Path, writable: list[Path],
                readable: list[Path] = (), answers: bool = False) -> list[str]:
        """``kernel_cmd`` wrapped in bubblewrap, setpriv and prlimit, working in ``workdir``
        (inside one of the ``writable`` folders), as :func:`kernel_uid`'s user (the answer
        runner's with ``answers``), able to read :meth:`readable_paths` and ``readable`` too."""
        uid = kernel_uid(answers)
        if uid is None:
            # --cap-drop ALL: in its own user namespace the kernel would otherwise hold every
            # capability there, enough to remount a read-only folder writable.
            argv = [self.program, "--unshare-all", "--cap-drop", "ALL"]
        else:  # no user namespace: bwrap mounts as root, setpriv then drops to the kernel's
            argv = [self.program, "--unshare-pid", "--unshare-net", "--unshare-ipc",
                    "--unshare-uts", "--unshare-cgroup-try"]
        # /proc/sys holds host-wide settings (kernel.core_pattern): read only, as the
        # sysrq trigger; bwrap covers only /proc/irq and /proc/bus itself.
        argv += ["--die-with-parent", "--new-session", "--proc", "/proc",
                 "--ro-bind", "/proc/sys", "/proc/sys",
                 "--ro-bind-try", "/proc/sysrq-trigger", "/proc/sysrq-trigger", "--dev", "/dev",
                 # POSIX semaphores (multiprocessing's locks, which Keras's file listing uses)
                 # live in /dev/shm: a small private one, open to the kernel's user
                 "--perms", "1777", "--size", str(SHM_MB * 2**20), "--tmpfs", "/dev/shm",
                 "--perms", "1777", "--size", str(self.disk_mb * 2**20), "--tmpfs", PRIVATE_TMP]
        mounts: list[tuple[str, str, str]] = []  # (bwrap option, host path, path inside)
        for system in ["/usr", "/etc", "/bin", "/sbin", "/lib", "/lib64", "/lib32"]:
            path = Path(system)
            if path.is_symlink():
                argv += ["--symlink", os.readlink(path), system]
            elif path.is_dir():
                mounts.append(("--ro-bind", system, system))
        for path in self.readable_paths():
            mounts.append(("--ro-bind", str(path), str(path)))
            if path.resolve() != path:
                mounts.append(("--ro-bind", str(path.resolve()), str(path.resolve())))
        mounts += [("--ro-bind", str(path), str(path)) for path in readable]
        mounts += [("--bind", str(path), str(path)) for path in writable]
        mounts += [("--ro-bind", str(host), inside)  # under the private /tmp
                   for host, inside in self.kernel_assets().binds.items()]
        mounts += [("--dev-bind", device, device) for device in self.devices]
        argv += parent_folders([inside for _, _, inside in mounts])
        for option, host, inside in mounts:
            argv += [option, host, inside]
        # ipykernel exits when its parent process changes; in its own PID namespace the
        # parent it would watch is not there. PID 1 tells it not to watch (bwrap's
        # --die-with-parent does that job).
        argv += ["--setenv", "JPY_PARENT_PID", "1", "--chdir", str(workdir), "--"]
        if uid is not None:  # the kernel's user, without capabilities, for good
            argv += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                     "--bounding-set=-all", "--inh-caps=-all", "--no-new-privs", "--"]
        argv += ["prlimit", f"--data={self.memory_mb * 2**20}",
                 f"--fsize={self.disk_mb * 2**20}", "--core=0",
                 f"--nproc={self.processes}", "--"]
        return argv + kernel_cmd

    def hand_over(self, folders: list[Path], answers: bool = False) -> None:
        """Give the kernel's user (the answer runner's with ``answers``) the ``folders`` it
        may write (and what they hold), when it is not the grader's own."""
        uid = kernel_uid(answers)
        if uid is None:
            return
        for folder in folders:
            os.lchown(folder, uid, uid)
            for directory, names, files in os.walk(folder):
                for name in names + files:
                    os.lchown(os.path.join(directory, name), uid, uid)

    def environment(self, inherited: dict[str, str]) -> dict[str, str]:
        """The kernel's environment: the course's and Python's settings, a private home."""
        kept = {key: value for key, value in inherited.items()
                if key in PASSED_ENV or key.startswith(PASSED_ENV_PREFIXES)}
        kept.pop(ASSETS_ENV, None)  # the kernel reads the fetched assets, never a mirror
        kept.update(HOME=PRIVATE_TMP, TMPDIR=PRIVATE_TMP,
                    MPLCONFIGDIR=f"{PRIVATE_TMP}/matplotlib",
                    PYTHONPATH=str(COURSE_ROOT),  # the grader's own exercises, not another copy
                    KERAS_HOME=KERNEL_KERAS_HOME, TFDS_DATA_DIR=KERNEL_TFDS_DATA_DIR)
        kept[CACHE_ENV] = KERNEL_COURSE_CACHE
        return kept


#: Kernel settings (under /proc/sys) that stop bubblewrap from making its namespaces: the
#: value that blocks, what it means, and the fix.
USERNS_SETTINGS = [
    ("kernel/apparmor_restrict_unprivileged_userns", "1",
     "AppArmor restricts unprivileged user namespaces (Ubuntu 23.10 and later)",
     "give bwrap an AppArmor profile that allows them (docs/instructors.md, \"Hosts that can "
     "grade\"), or turn the restriction off: sudo sysctl "
     "kernel.apparmor_restrict_unprivileged_userns=0"),
    ("kernel/unprivileged_userns_clone", "0",
     "unprivileged user namespaces are turned off",
     "sudo sysctl kernel.unprivileged_userns_clone=1"),
    ("user/max_user_namespaces", "0",
     "user namespaces are turned off", "sudo sysctl user.max_user_namespaces=15000"),
]
#: Files a container runtime leaves in the container's root (Docker, Podman).
CONTAINER_MARKERS = [".dockerenv", "run/.containerenv"]


def sandbox_diagnosis(sysctl: Path = Path("/proc/sys"), root: Path = Path("/"),
                      environ: dict[str, str] | None = None) -> str:
    """Why bubblewrap likely cannot start on this host, and the fix; ``""`` if unknown.
    Read only after bwrap has failed: a privileged container sandboxes well."""
    for name, blocking, cause, fix in USERNS_SETTINGS:
        setting = sysctl / name
        if setting.is_file() and setting.read_text().strip() == blocking:
            return f"{cause} ({name.replace('/', '.')} = {blocking}); fix: {fix}"
    environ = os.environ if environ is None else environ
    if any((root / marker).exists() for marker in CONTAINER_MARKERS) or \
            "KUBERNETES_SERVICE_HOST" in environ:
        return ("this runs in a container, whose default seccomp and AppArmor profiles forbid "
                "the namespaces bwrap makes; fix: grade on the host or in a virtual machine, or "
                "start the container with --security-opt seccomp=unconfined --security-opt "
                "apparmor=unconfined (Docker, Podman)")
    return ""


@lru_cache(maxsize=None)
def bubblewrap_problem(program: str = "bwrap") -> str | None:
    """None if bubblewrap can start a sandbox here, else what went wrong, with its likely
    cause and fix."""
    if shutil.which(program) is None:
        return f"{program} is not installed (Debian, Ubuntu: sudo apt install bubblewrap)"
    probe = [program, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/",
             "--proc", "/proc", "--dev", "/dev", "true"]
    try:
        result = subprocess.run(probe, capture_output=True, text=True, timeout=30)
        failure = "" if result.returncode == 0 else (
            f"{program} failed: {result.stderr.strip() or result.returncode}")
    except (OSError, subprocess.TimeoutExpired) as error:
        failure = f"{program} failed to start: {error}"
    if not failure:
        return None
    cause = sandbox_diagnosis()
    return f"{failure}. Likely cause: {cause}" if cause else failure


class LimitWatch:
    """Stops a process tree that holds too much memory or fills too much disk.

    ``prlimit --data`` stops one process's allocations, and ``--fsize`` one file's growth;
    this catches the rest: the resident memory of the whole tree (a kernel that forks,
    memory-mapped files), every ``interval`` seconds, and the bytes under ``folders`` (many
    files, each under the size limit), every ``disk_every`` such polls. :attr:`exceeded` then
    says which: ``"memory"`` or ``"disk"``.
    """

    def __init__(self, pid: int, memory_mb: int, folders: list[Path] = (), disk_mb: int = 0,
                 interval: float = 0.2, disk_every: int = 5) -> None:
        self.memory_mb, self.disk_mb, self.interval = memory_mb, disk_mb, interval
        self.folders, self.disk_every = [Path(folder) for folder in folders], disk_every
        self.exceeded: str | None = None
        self._root = psutil.Process(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _resident_mb(self) -> float:
        total = 0
        for process in [self._root, *self._root.children(recursive=True)]:
            try:
                total += process.memory_info().rss
            except psutil.Error:
                pass
        return total / 2**20

    def _written_mb(self) -> float:
        total = 0
        for folder in self.folders:
            for directory, _, files in os.walk(folder):
                for name in files:
                    try:
                        total += os.lstat(os.path.join(directory, name)).st_size
                    except OSError:
                        pass
        return total / 2**20

    def _over_limit(self, polls: int) -> str | None:
        if self._resident_mb() > self.memory_mb:
            return "memory"
        if self.disk_mb and polls % self.disk_every == 0 and self._written_mb() > self.disk_mb:
            return "disk"
        return None

    def _watch(self) -> None:
        polls = 0
        while not self._stop.wait(self.interval):
            polls += 1
            try:
                self.exceeded = self._over_limit(polls)
                if self.exceeded:
                    for process in [*self._root.children(recursive=True), self._root]:
                        process.kill()
                    return
            except psutil.Error:
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


if __name__ == "__main__":  # python -m grader.sandbox: can this host grade in the sandbox?
    problem = bubblewrap_problem()
    print(f"cannot sandbox here: {problem}" if problem else
          "the sandbox works here: bubblewrap started a kernel's namespaces")
    sys.exit(1 if problem else 0)
