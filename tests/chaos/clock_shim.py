"""Skewed wall clocks for service processes: a tiny LD_PRELOAD library built with gcc.

It shifts CLOCK_REALTIME (``clock_gettime``, ``gettimeofday``, ``time``) by
``CHAOS_CLOCK_OFFSET_MS`` and leaves every other clock alone. Why not Debian's
``faketime`` (libfaketime), which issue 13 names: under Python 3.11 it misbehaves either
way. Faking the monotonic clock too stretches every timed wait (``Condition.wait``,
``Event.wait``) and the process stalls; not faking it (``FAKETIME_DONT_FAKE_MONOTONIC``)
makes ``time.sleep`` fail with EINVAL. A process whose wall clock is wrong but whose
monotonic clock is right is exactly what a machine with a drifting or mis-set clock is,
so this is all the harness needs. The library is compiled at test time into a temporary
directory (gcc is on the development machines and in CI); nothing built is kept.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

OFFSET_VARIABLE = "CHAOS_CLOCK_OFFSET_MS"

SOURCE = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static long long offset_ns;
static int (*real_clock_gettime)(clockid_t, struct timespec *);
static int (*real_gettimeofday)(struct timeval *, void *);

__attribute__((constructor)) static void chaos_init(void) {
    const char *value = getenv("CHAOS_CLOCK_OFFSET_MS");
    offset_ns = value ? atoll(value) * 1000000LL : 0;
    real_clock_gettime = dlsym(RTLD_NEXT, "clock_gettime");
    real_gettimeofday = dlsym(RTLD_NEXT, "gettimeofday");
}

static void shift(struct timespec *ts) {
    long long ns = (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec + offset_ns;
    ts->tv_sec = ns / 1000000000LL;
    ts->tv_nsec = ns % 1000000000LL;
}

int clock_gettime(clockid_t id, struct timespec *ts) {
    if (!real_clock_gettime) chaos_init();
    int rc = real_clock_gettime(id, ts);
    if (rc == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) shift(ts);
    return rc;
}

int gettimeofday(struct timeval *tv, void *tz) {
    if (!real_gettimeofday) chaos_init();
    int rc = real_gettimeofday(tv, tz);
    if (rc == 0 && tv) {
        struct timespec ts = {tv->tv_sec, tv->tv_usec * 1000L};
        shift(&ts);
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = ts.tv_nsec / 1000L;
    }
    return rc;
}

time_t time(time_t *out) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (out) *out = ts.tv_sec;
    return ts.tv_sec;
}
"""


def build(directory: Path) -> Path:
    """Compile the library into ``directory``; return its path."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise RuntimeError("the clock-skew shim needs gcc (apt-get install gcc)")
    source = directory / "chaos_clock.c"
    library = directory / "chaos_clock.so"
    source.write_text(SOURCE)
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-O2", "-o", str(library), str(source), "-ldl"],
        check=True, capture_output=True,
    )  # fmt: skip
    return library


def skewed_env(env: dict[str, str], library: Path, offset_s: float) -> dict[str, str]:
    """``env`` for a process whose wall clock runs ``offset_s`` seconds off."""
    if not offset_s:
        return dict(env)
    preload = " ".join(p for p in (str(library), env.get("LD_PRELOAD", "")) if p)
    return {**env, "LD_PRELOAD": preload, OFFSET_VARIABLE: str(int(offset_s * 1000))}
