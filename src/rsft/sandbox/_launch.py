"""The sandbox launcher: runs as the child process, confines itself, then starts and supervises the program.

Started as ``python -I -S _launch.py SPEC_JSON`` (no site, no user paths: only ``os``, ``sys``, ``json``,
``resource``, ``signal`` and ``ctypes`` are imported). Doing the confinement in a fresh process instead of a
``preexec_fn`` keeps the parent's thread pool safe (``preexec_fn`` can deadlock in a threaded parent).

Order matters: the cgroups are joined first (so every later process is counted), then the namespaces and mounts
(they need root), then the limits; each started process drops to its uid last, so it cannot undo any of it.

With a PID namespace the launcher forks once more: the child is PID 1 of the new namespace (the supervisor), mounts
a fresh ``/proc`` (which then shows only the sandbox's own processes), starts the program and, when the program is
done, exits, and the kernel kills whatever the program left behind. Without one, the launcher is the supervisor.

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
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38

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


def _isolate_fs(libc, spec):
    """Private mounts: fresh tmpfs over the world-writable dirs, the work dir bound back in, and every dir on
    the interpreter's path that the sandbox uid could not traverse overlaid so only that path shows through."""
    _mount(libc, "none", "/", None, MS_REC | MS_PRIVATE, None)
    keep = []
    for hidden, child in spec["reveal"]:  # e.g. ("/root", ".pyenv"): /root is 0700
        keep.append((hidden, child, os.open(os.path.join(hidden, child), os.O_RDONLY | os.O_DIRECTORY)))
    work_fd = os.open(spec["cwd"], os.O_RDONLY | os.O_DIRECTORY)
    # the interpreter's own tree may live under a dir that gets a fresh tmpfs (a venv in /tmp): bind it back
    rebind = [
        (p, os.open(p, os.O_RDONLY | os.O_DIRECTORY)) for p in spec.get("rebind", ()) if os.path.isdir(p)
    ]
    for hidden, child, fd in keep:
        _mount(libc, "tmpfs", hidden, "tmpfs", 0, "size=1m,mode=0755")
        os.mkdir(os.path.join(hidden, child))
        _mount(libc, f"/proc/self/fd/{fd}", os.path.join(hidden, child), None, MS_BIND | MS_REC, None)
        os.close(fd)
    for d in spec["tmpfs"]:
        if os.path.isdir(d):
            _mount(libc, "tmpfs", d, "tmpfs", 0, f"size={spec['tmpfs_mb']}m,mode=1777")
    for path, fd in rebind:
        os.makedirs(path, 0o755, exist_ok=True)
        _mount(libc, f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC, None)
        os.close(fd)
    os.mkdir(spec["mount_cwd"], 0o755)
    _mount(libc, f"/proc/self/fd/{work_fd}", spec["mount_cwd"], None, MS_BIND, None)
    os.close(work_fd)
    if spec["pidns"]:  # this process is PID 1 of a new namespace: a fresh /proc shows only its descendants
        _mount(libc, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)


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
