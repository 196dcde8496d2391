/*
 * bench-timer: the floor of a native probe scheduler. Wakes at absolute deadlines every
 * INTERVAL_US on CLOCK_MONOTONIC with clock_nanosleep(TIMER_ABSTIME) for SECONDS and prints
 * the lateness (wake-up minus deadline, µs) p50/p99/max and its own CPU use as one JSON line.
 * No packets: it measures only what a native timer would give the probe loop.
 *
 *   bench-timer INTERVAL_US SECONDS [fifo PRIO]
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>

#define BUCKETS 200001 /* 0 .. 200 ms in µs */

static unsigned int histogram[BUCKETS];

static uint64_t ns(const struct timespec *t) { return (uint64_t)t->tv_sec * 1000000000ULL + (uint64_t)t->tv_nsec; }

static long percentile(unsigned long total, double q) {
  unsigned long want = (unsigned long)(q * (double)total + 0.999999), seen = 0;
  if (want == 0) want = 1;
  for (long i = 0; i < BUCKETS; i++) {
    seen += histogram[i];
    if (seen >= want) return i;
  }
  return BUCKETS - 1;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: bench-timer INTERVAL_US SECONDS [fifo PRIO]\n");
    return 2;
  }
  long interval_us = atol(argv[1]);
  double seconds = atof(argv[2]);
  if (argc >= 5 && strcmp(argv[3], "fifo") == 0) {
    struct sched_param sp = {.sched_priority = atoi(argv[4])};
    if (sched_setscheduler(0, SCHED_FIFO, &sp) != 0) perror("sched_setscheduler");
  }
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  struct timespec start, deadline, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  deadline = start;
  unsigned long count = 0;
  long max = 0;
  uint64_t end = ns(&start) + (uint64_t)(seconds * 1e9);
  for (;;) {
    deadline.tv_nsec += interval_us * 1000L;
    while (deadline.tv_nsec >= 1000000000L) {
      deadline.tv_nsec -= 1000000000L;
      deadline.tv_sec += 1;
    }
    if (ns(&deadline) > end) break;
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL) != 0) {
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    long late = (long)((ns(&now) - ns(&deadline)) / 1000ULL);
    if (late > max) max = late;
    histogram[late < BUCKETS ? late : BUCKETS - 1]++;
    count++;
  }
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  double cpu_s = (double)usage.ru_utime.tv_sec + (double)usage.ru_utime.tv_usec / 1e6 + (double)usage.ru_stime.tv_sec + (double)usage.ru_stime.tv_usec / 1e6;
  printf("{\"samples\":%lu,\"p50\":%ld,\"p99\":%ld,\"max\":%ld,\"cpuPercent\":%.3f}\n", count, percentile(count, 0.5), percentile(count, 0.99), max, cpu_s / seconds * 100.0);
  return 0;
}
