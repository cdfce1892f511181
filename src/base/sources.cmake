# src/base: the one error path and what the program asks of the operating system.
set(HPFF_BASE_SOURCES
  src/base/check.c        # hpff_fatal, HPFF_CHECK, hpff_status, checked allocation
  src/base/system.c       # monotonic clock, peak RSS, mkdir -p, durations
)
