"""The sandbox launcher: runs as the child process, confines itself, then starts and supervises the program.

Started as ``python -I -S _launch.py SPEC_JSON`` (no site, no user paths: only ``os``, ``sys``, ``json``,
``resource``, ``signal`` and ``ctypes`` are imported). Doing the confinement in a fresh process instead of a
``preexec_fn`` keeps the parent's thread pool safe (``preexec_fn`` can deadlock in a threaded parent).

Order matters: the cgroups are joined first (so every later process is counted), then the namespaces (network,
mount, PID, IPC) and the program's filesystem view (:func:`_isolate_fs`: they need root), then the limits; each
started process drops to its uid last, so it cannot undo any of it.

With a PID namespace the launcher forks once more: the child is PID 1 of the new namespace (the supervisor), builds
the view with a fresh ``/proc`` (which then shows only the sandbox's own processes), starts the program and, when
the program is done, exits, and the kernel kills whatever the program left behind. Without one, the launcher is
the supervisor.

Plain mode runs one program. Tested mode (``spec["harness"]``) runs the tests' process first, waits until it has
read its secret and made itself non-dumpable, then runs the program's process; the supervisor waits for the tests'
process and then kills the program (see ``_harness.py``).

Each step that fails is reported on the report fd as a JSON line and the launcher exits 121 (a step the caller
marked ``required``) or goes on (best effort). The program's exit is reported as ``{"exit": code}`` or
``{"signal": n}`` (and ``{"tests_exit": ...}`` in tested mode).
"""

import ctypes
import json
import os
import resource
import signal
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_RDONLY = 1
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
MNT_DETACH = 2
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41}.get(os.uname().machine, 155)
HARNESS_PATH = "/.rsft/harness.py"

LIMITS = {
    "cpu": resource.RLIMIT_CPU,
    "as": resource.RLIMIT_AS,
    "nproc": resource.RLIMIT_NPROC,
    "fsize": resource.RLIMIT_FSIZE,
    "nofile": resource.RLIMIT_NOFILE,
    "core": resource.RLIMIT_CORE,
}


def _fail(report, step, err):
    report.write(json.dumps({"step": step, "error": str(err)}) + "\n")
    report.flush()


def _mount(libc, src, target, fstype, flags, data):
    rc = libc.mount(
        None if src is None else src.encode(),
        target.encode(),
        None if fstype is None else fstype.encode(),
        flags,
        None if data is None else data.encode(),
    )
    if rc != 0:
        raise OSError(ctypes.get_errno(), f"mount {src} -> {target}: {os.strerror(ctypes.get_errno())}")


def _bind(libc, src, target, readonly=True):
    """Bind ``src`` (a host path, opened before the view was built) at ``target``, read-only by default."""
    _mount(libc, src, target, None, MS_BIND | MS_REC, None)
    if readonly:
        _mount(libc, None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, None)


def _mkdirs(root, path, mode=0o755):
    """``root + path`` with every missing parent (created ``mode``: the tmpfs root is built before the drop)."""
    target = root + path
    os.makedirs(target, mode, exist_ok=True)
    return target


def _isolate_fs(libc, spec):
    """Build the program's whole filesystem view in a fresh tmpfs and ``pivot_root`` into it.

    The view holds only: the system's library trees (``/usr`` and its ``/bin``, ``/lib*`` links), the
    interpreter's own trees (``spec["trees"]``: its prefix, a virtual environment), read-only, with rsft's own
    package folder masked by an empty tmpfs; ``/etc/ld.so.cache`` and ``/etc/localtime``; ``/dev/null``, ``zero``,
    ``full``, ``random``, ``urandom``; a fresh ``/proc`` (the PID namespace's); and one tmpfs of ``tmpfs_mb``
    holding ``/tmp`` (the work folder ``/tmp/sandbox`` inside it) and ``/dev/shm``. Everything else of the host
    (data folders, the project checkout, stores, home folders, the host's ``/tmp``, filesystem sockets) is not in
    the view at all: after ``pivot_root`` the old root is detached, so no path leads there."""
    _mount(libc, "none", "/", None, MS_REC | MS_PRIVATE, None)
    root = spec["root_dir"]
    harness = None
    if spec["harness"]:
        with open(spec["harness"]["script"], "rb") as f:
            harness = f.read()
    files = {}
    for name in os.listdir(spec["cwd"]):  # the runner's staging folder: main.py and the extra files, flat
        with open(os.path.join(spec["cwd"], name), "rb") as f:
            files[name] = f.read()
    _mount(libc, "tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=0755")
    for name in spec["system"]:  # /usr, and /bin, /lib, ... as links or binds
        src = "/" + name
        if os.path.islink(src):
            os.symlink(os.readlink(src), root + src)
        elif os.path.isdir(src):
            _bind(libc, src, _mkdirs(root, src))
    _mkdirs(root, "/etc")
    for name in ("/etc/ld.so.cache", "/etc/localtime"):
        if os.path.isfile(name):
            open(root + name, "wb").close()
            _bind(libc, os.path.realpath(name), root + name)
    _mkdirs(root, "/dev")
    for dev in ("null", "zero", "full", "random", "urandom"):
        if os.path.exists("/dev/" + dev):
            open(root + "/dev/" + dev, "wb").close()
            _mount(libc, "/dev/" + dev, root + "/dev/" + dev, None, MS_BIND, None)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):  # fmt: skip
        os.symlink(target, root + "/dev/" + name)
    scratch = _mkdirs(root, "/tmp")
    _mount(libc, "tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NODEV, f"size={spec['tmpfs_mb']}m,mode=1777")
    os.mkdir(scratch + "/.shm", 0o1777)
    os.chmod(scratch + "/.shm", 0o1777)
    _mount(libc, scratch + "/.shm", _mkdirs(root, "/dev/shm"), None, MS_BIND, None)
    for tree in spec["trees"]:  # after /tmp: an interpreter under the host's /tmp (a CI clone's venv) shows
        if os.path.isdir(tree):
            _bind(libc, tree, _mkdirs(root, tree))
    for hidden in spec["mask"]:  # rsft's own package inside a bound tree: an empty, read-only folder
        if os.path.isdir(root + hidden):
            _mount(libc, "tmpfs", root + hidden, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=0555")
    work = root + spec["mount_cwd"]
    os.mkdir(work, 0o755)
    uid = spec["uid"]
    for name, data in files.items():
        with open(os.path.join(work, name), "wb") as f:
            f.write(data)
        if uid is not None:
            os.chown(os.path.join(work, name), uid, uid)
    if uid is not None:
        os.chown(work, uid, uid)
    if harness is not None:
        _mkdirs(root, "/.rsft")
        with open(root + HARNESS_PATH, "wb") as f:
            f.write(harness)
        spec["harness"]["script"] = HARNESS_PATH
    _mkdirs(root, "/proc")
    os.mkdir(root + "/.old")
    if libc.syscall(SYS_PIVOT_ROOT, root.encode(), (root + "/.old").encode()) != 0:
        raise OSError(ctypes.get_errno(), f"pivot_root {root}: {os.strerror(ctypes.get_errno())}")
    os.chdir("/")
    if libc.umount2(b"/.old", MNT_DETACH) != 0:
        raise OSError(ctypes.get_errno(), f"umount old root: {os.strerror(ctypes.get_errno())}")
    os.rmdir("/.old")
    if spec["pidns"]:  # this process is PID 1 of a new namespace: a fresh /proc shows only its descendants
        _mount(libc, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
    _mount(libc, None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4m,mode=0755")


def _spawn(libc, spec, uid, argv, keep=(), devnull_stdin=False):
    """Fork a child that drops to ``uid`` and ``exec``s ``argv`` with only ``keep`` (and 0-2) left open."""
    pid = os.fork()
    if pid:
        return pid
    try:
        for fd in keep:
            os.set_inheritable(fd, True)
        if devnull_stdin:
            os.dup2(os.open("/dev/null", os.O_RDONLY), 0)
        if uid is not None:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)  # after setuid: a credential change clears it
        env = dict(spec["env"], HOME=spec["run_cwd"], TMPDIR="/tmp" if spec["mountns"] else spec["run_cwd"])
        os.execve(argv[0], argv, env)
    except BaseException:  # noqa: BLE001 - the child must never return into the supervisor's code
        os._exit(121)


def _wait_for(pid, ended):
    """Reap children (as PID 1, orphans too) until ``pid`` has exited; its wait status. ``ended`` collects the
    status of every child reaped on the way (pid -> status)."""
    while pid not in ended:
        try:
            got, status = os.wait()
        except ChildProcessError:
            return None
        ended[got] = status
    return ended[pid]


def _status(status):
    if status is None:
        return {"exit": None}
    if os.WIFSIGNALED(status):
        return {"signal": os.WTERMSIG(status)}
    return {"exit": os.WEXITSTATUS(status)}


def _supervise(libc, spec, report):
    """Start the program (and in tested mode the tests first) and report how it ended."""
    h = spec["harness"]
    if h is None:
        pid = _spawn(libc, spec, spec["uid"], spec["argv"])
        return {"program": _status(_wait_for(pid, {}))}
    ready_r, ready_w = os.pipe()
    to_prog_r, to_prog_w = os.pipe()
    to_tests_r, to_tests_w = os.pipe()
    py = [spec["argv"][0], "-I", "-B", "-X", "utf8", h["script"]]
    tests_fds = [h["setup_fd"], h["verdict_fd"], ready_w, to_tests_r, to_prog_w]
    tests_argv = [py[0], "-S", *py[1:], "tests", *map(str, tests_fds)]  # the tests need no site-packages
    tests = _spawn(libc, spec, h["tests_uid"], tests_argv, tests_fds, devnull_stdin=True)
    for fd in (h["setup_fd"], h["verdict_fd"], ready_w, to_tests_r, to_prog_w):
        os.close(fd)
    # the program starts only once the tests' process holds its secret and is not dumpable
    ended = {}
    if os.read(ready_r, 1) != b"1":
        return {"program": {"exit": None}, "tests": _status(_wait_for(tests, ended))}
    os.close(ready_r)
    prog_argv = [*py, "program", str(to_prog_r), str(to_tests_w), "main.py", h["module_name"]]
    prog = _spawn(libc, spec, spec["uid"], prog_argv, (to_prog_r, to_tests_w))
    os.close(to_prog_r)
    os.close(to_tests_w)
    tests_status = _wait_for(tests, ended)
    if prog in ended:  # the program ended before the tests did
        program = _status(ended[prog])
    else:  # it is waiting for requests that will never come
        os.kill(prog, signal.SIGKILL)
        _wait_for(prog, ended)
        program = {"stopped": True}
    return {"program": program, "tests": _status(tests_status)}


def _outer(pid):
    """The launcher's half outside the PID namespace: wait for PID 1 and end the same way."""
    status = _wait_for(pid, {})
    if status is not None and os.WIFSIGNALED(status):
        signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
        os.kill(os.getpid(), os.WTERMSIG(status))
    os._exit(os.WEXITSTATUS(status) if status is not None else 120)


def main():
    spec = json.loads(sys.argv[1])
    report_fd = spec["report_fd"]
    report = os.fdopen(report_fd, "w")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # a same-uid program cannot read this process's fds or memory
    h = spec["harness"]
    for fd in [report_fd] + ([h["setup_fd"], h["verdict_fd"]] if h else []):
        os.set_inheritable(fd, False)
    for procs in spec["cgroup_procs"]:
        try:
            with open(procs, "w") as f:
                f.write(str(os.getpid()))
        except OSError as e:
            _fail(report, "cgroup", e)
            os._exit(121)
    spec["run_cwd"] = spec["cwd"]
    flags = (
        (CLONE_NEWNET if spec["netns"] else 0)
        | (CLONE_NEWNS if spec["mountns"] else 0)
        | (CLONE_NEWPID if spec["pidns"] else 0)
        | (CLONE_NEWIPC if spec["ipcns"] else 0)
    )
    if flags:
        if libc.unshare(flags) != 0:
            _fail(report, "namespaces", os.strerror(ctypes.get_errno()))
            if spec["required_ns"]:
                os._exit(121)
            spec["mountns"] = spec["pidns"] = False
        elif spec["pidns"]:
            pid = os.fork()
            if pid:
                report.close()
                if spec["harness"]:
                    os.close(spec["harness"]["setup_fd"])
                    os.close(spec["harness"]["verdict_fd"])
                _outer(pid)
        if spec["mountns"]:
            try:
                _isolate_fs(libc, spec)
                spec["run_cwd"] = spec["mount_cwd"]
            except OSError as e:
                _fail(report, "mounts", e)
                if spec["required_ns"]:
                    os._exit(121)
    for name, value in spec["limits"].items():
        try:
            resource.setrlimit(LIMITS[name], (value, value))
        except (ValueError, OSError) as e:
            _fail(report, f"rlimit_{name}", e)
            os._exit(121)
    os.chdir(spec["run_cwd"])
    outcome = _supervise(libc, spec, report)
    report.write(json.dumps(outcome) + "\n")
    report.close()
    os._exit(0)


if __name__ == "__main__":
    main()
