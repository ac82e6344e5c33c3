#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What the library's hooks can call outside the library (doc/design.md, "What a hook may call").

A hook may run inside the program's allocator with its lock held, and our threads hold locks
that hooks wait for: neither may call the program's allocator, stdio, or anything that takes
a lock a thread inside malloc may hold. This reads the direct calls of build/libcdmplace.so
(objdump -d), follows them from every hook, our threads, the fork handlers and the
destructor, and the tracker backends' operations, and fails on any function reached outside the library that is not on the list
below, printing the path that reaches it. Calls through function pointers (the real
functions, uthash's allocator) are not followed: they are named in the design document.

Usage: python3 tests/hook_calls.py [LIBRARY]
"""
import re
import subprocess
import sys

# Outside functions the library's own code may call from a hook or a thread of ours: each a
# system call wrapper, a string or number routine, a lock of ours, or named with its reason.
ALLOWED = {
    # system calls and their thin wrappers
    "__errno_location", "clock_gettime", "close", "eventfd", "faccessat", "fcntl", "fstat",
    "getdents64", "getpid", "getppid", "gettid", "kill", "lseek", "mkdir", "nanosleep",
    "open", "poll", "pwritev", "read", "readlink", "rmdir", "stat", "syscall", "uname",
    "write", "access", "sigfillset", "pthread_sigmask",
    # libnuma's system call wrappers (numactl syscall.c): no allocation
    "mbind", "move_pages",
    # strings and numbers; snprintf with integer and string conversions does not allocate
    "memchr", "memcmp", "memcpy", "memmove", "memrchr", "memset", "strchr", "strcmp", "strcspn",
    "strlen", "strncmp", "strrchr", "strstr", "strtol", "strtoul", "snprintf", "vsnprintf",
    "strerrordesc_np", "strerrorname_np", "getauxval", "sysconf",
    # our own locks (never held across a call into the allocator)
    "pthread_mutex_lock", "pthread_mutex_unlock", "pthread_mutex_trylock", "pthread_mutex_init",
    "pthread_cond_wait", "pthread_cond_broadcast", "pthread_cond_init", "pthread_join",
    # lock-free object lookup for unwinders (glibc 2.35), libunwind's cached unwinder
    "_dl_find_object", "unw_backtrace",
}

# Allowed only from the functions named: (callee, caller) with the reason.
ALLOWED_FROM = {
    # the first call of any hook resolves the real functions; dlsym's allocations come from
    # the bootstrap pool, and no allocator has a lock held that early
    ("dlsym", "cdm__hooks_resolve"),
    ("dlsym", "cdm__hooks_resolve.part.0"),
    # starts the tracker's threads only under glibc's malloc or from a malloc-family call
    # (cdm__tracker_start_threads)
    ("pthread_create", "start_threads"),
    # the fork handlers' registration runs once, from the constructor or the first other
    # registration (libraries' constructors, an allocator's first malloc): no lock is held;
    # a second registration at the same moment yields until the first is done
    ("sched_yield", "cdm__fork_handlers_register"),
    # realloc of a bootstrap-pool pointer, and reallocarray: our own exported malloc/realloc
    ("malloc", "realloc"),
    ("realloc", "reallocarray"),
}

HOOKS = ["malloc", "free", "calloc", "realloc", "reallocarray", "posix_memalign",
         "aligned_alloc", "memalign", "valloc", "pvalloc", "malloc_usable_size", "mmap",
         "munmap", "mremap", "madvise", "ioctl", "__register_atfork", "pthread_atfork"]
# Our threads, the fork handlers (they run inside fork(), where allocators hold their own
# locks) and the destructor.
OTHERS = ["tracker_main", "migrator_main", "prepare_fork", "after_fork_parent",
          "after_fork_child", "cdm_fini"]


def backend_operations():
    """The tracker's backends are called through their tables of operations (preload/track.h),
    from the threads and the hooks: every function a table names is followed as a root (its
    sizes, `sizeof(...)`, are not functions)."""
    import glob
    import os
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    names = []
    for path in sorted(glob.glob(os.path.join(root, "preload", "track_*.c"))):
        text = open(path).read()
        for table in re.findall(r"const struct cdm_track_ops \w+ = \{(.*?)\};", text, re.S):
            names += re.findall(r"\.\w+\s*=\s*(?!sizeof\b)(\w+)", table)
    return names


def call_graph(library):
    listing = subprocess.run(["objdump", "-d", "--no-show-raw-insn", library], check=True,
                             capture_output=True, text=True).stdout
    calls, current = {}, None
    for line in listing.splitlines():
        header = re.match(r"^[0-9a-f]+ <(.+)>:$", line)
        if header:
            current = header.group(1)
            calls[current] = set()
            continue
        call = re.search(r"\b(call|jmp)\s+[0-9a-f]+ <([^>+]+)(\+0x[0-9a-f]+)?>", line)
        if current and call and call.group(2) != current:
            calls[current].add(call.group(2))
    return calls


def main():
    library = sys.argv[1] if len(sys.argv) > 1 else "build/libcdmplace.so"
    calls = call_graph(library)
    roots = HOOKS + OTHERS + backend_operations()
    missing = [root for root in roots if root not in calls]
    if missing:
        print(f"FAIL call-graph (no function named {', '.join(missing)} in {library})")
        print("0 passed, 1 failed")
        return 1
    passed = failed = 0
    for root in roots:
        parent, stack, seen, bad = {}, [root], set(), []
        while stack:
            function = stack.pop()
            if function in seen:
                continue
            seen.add(function)
            if function.endswith("@plt"):
                name, caller = function[:-4], parent.get(function)
                if name not in ALLOWED and (name, caller) not in ALLOWED_FROM and name not in HOOKS:
                    bad.append(function)
                # A hook reached through the PLT is our own export: followed as itself
                # unless it is the caller's named forwarding.
                if name in HOOKS and (name, caller) not in ALLOWED_FROM:
                    bad.append(function)
                continue
            for callee in calls.get(function, ()):
                if callee not in seen:
                    parent.setdefault(callee, function)
                    stack.append(callee)
        if bad:
            failed += 1
            for function in bad:
                path = [function]
                while path[-1] in parent:
                    path.append(parent[path[-1]])
                print(f"FAIL {root} reaches {function[:-4]}: {' <- '.join(path)}")
        else:
            passed += 1
            print(f"ok {root}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
