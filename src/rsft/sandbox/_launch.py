"""The sandbox launcher: runs as the child process, confines itself, then ``exec``s the program.

Started as ``python -I -S _launch.py SPEC_JSON`` (no site, no user paths: only ``os``, ``sys``, ``json``,
``resource`` and ``ctypes`` are imported). Doing the confinement in a fresh process instead of a ``preexec_fn``
keeps the parent's thread pool safe (``preexec_fn`` can deadlock in a threaded parent).

Order matters: namespaces and mounts need root, so they come first; limits next; the uid drop last, so the
program cannot undo any of it. Each step that fails is reported on the report fd as a JSON line and the launcher exits 121
(a step the caller marked ``required``) or goes on (best effort).
"""

import ctypes
import json
import os
import resource
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
PR_SET_NO_NEW_PRIVS = 38
PR_SET_PDEATHSIG = 1

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


def main():
    spec = json.loads(sys.argv[1])
    report = os.fdopen(spec["report_fd"], "w")
    libc = ctypes.CDLL(None, use_errno=True)
    cwd = spec["cwd"]
    if spec["netns"] or spec["mountns"]:
        flags = (CLONE_NEWNET if spec["netns"] else 0) | (CLONE_NEWNS if spec["mountns"] else 0)
        if libc.unshare(flags) != 0:
            _fail(report, "namespaces", os.strerror(ctypes.get_errno()))
            if spec["required_ns"]:
                os._exit(121)
        elif spec["mountns"]:
            try:
                _isolate_fs(libc, spec)
                cwd = spec["mount_cwd"]
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
    os.chdir(cwd)
    if spec["uid"] is not None:
        try:
            os.setgroups([])
            os.setgid(spec["uid"])
            os.setuid(spec["uid"])
        except OSError as e:
            _fail(report, "setuid", e)
            os._exit(121)
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)  # after setuid: a credential change clears it
    report.close()
    env = dict(spec["env"], HOME=cwd, TMPDIR="/tmp" if spec["mountns"] else cwd)
    os.execve(spec["argv"][0], spec["argv"], env)


if __name__ == "__main__":
    main()
