#!/usr/bin/env python3
"""tests/bench/loadgen/fsync_probe.py — the disk's durability floor, for bench_submission.sh.

Measures, in DIR (put it on the spool's filesystem), what Signpost's durability contract
costs at the least (DESIGN.md: "250 queued" only after the message, its envelope and the
directory entry are on disk):

  fsync.4k  write 4096 bytes to a new file, then time fsync() of that file alone.
  commit    the whole pattern for one message: write a 4096-byte message file and a
            400-byte envelope file, fsync each, rename both into place, fsync the
            directory (3 fsyncs, 2 renames), timed from the first open to the last fsync.

Standard library only; any python3. Bounded: COUNT samples or MAX_SECONDS, whichever first.
Output: one line per probe, "RESULT fsync_probe name=.. n=.. p50_ms=.. p99_ms=.. mean_ms=..".
"""
import os
import sys
import time


def percentile(sorted_ms, q):
    # Nearest rank, as loadgen computes it.
    k = max(1, min(len(sorted_ms), int(-(-q * len(sorted_ms) // 1))))
    return sorted_ms[k - 1]


def report(name, samples):
    samples.sort()
    mean = sum(samples) / len(samples)
    print("RESULT fsync_probe name=%s n=%d p50_ms=%.3f p99_ms=%.3f mean_ms=%.3f" %
          (name, len(samples), percentile(samples, 0.50), percentile(samples, 0.99), mean))


def main():
    if len(sys.argv) < 2:
        print("usage: fsync_probe.py DIR [COUNT=200] [MAX_SECONDS=10]", file=sys.stderr)
        return 2
    directory = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    max_seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 10.0
    os.makedirs(directory, exist_ok=True)
    message = (b"x" * 70 + b"\r\n") * (4096 // 72) + b"y" * (4096 % 72)
    envelope = b"e" * 400

    fsync_ms = []
    deadline = time.monotonic() + max_seconds / 2
    for i in range(count):
        path = os.path.join(directory, "probe-%d.tmp" % i)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, message)
        t0 = time.perf_counter()
        os.fsync(fd)
        fsync_ms.append((time.perf_counter() - t0) * 1000)
        os.close(fd)
        os.unlink(path)
        if time.monotonic() > deadline:
            break
    report("fsync.4k", fsync_ms)

    commit_ms = []
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    deadline = time.monotonic() + max_seconds / 2
    for i in range(count):
        t0 = time.perf_counter()
        finals = []
        for suffix, data in ((".msg", message), (".env", envelope)):
            tmp = os.path.join(directory, "probe-%d%s.tmp" % (i, suffix))
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.write(fd, data)
            os.fsync(fd)
            os.close(fd)
            final = os.path.join(directory, "probe-%d%s" % (i, suffix))
            os.rename(tmp, final)
            finals.append(final)
        os.fsync(dir_fd)
        commit_ms.append((time.perf_counter() - t0) * 1000)
        for final in finals:
            os.unlink(final)
        if time.monotonic() > deadline:
            break
    os.close(dir_fd)
    report("commit", commit_ms)
    return 0


if __name__ == "__main__":
    sys.exit(main())
