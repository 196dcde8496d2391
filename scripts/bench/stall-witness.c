/*
 * bench-stall-witness: does the machine itself stop? One thread pinned to each online CPU at
 * SCHED_FIFO 99 with memory locked wakes every millisecond at absolute deadlines on
 * CLOCK_MONOTONIC. Nothing in the lab runs above it, so a wake-up later than THRESHOLD_US is
 * time that CPU did not run anything the lab asked for: interrupts held off, or a virtual CPU
 * that its host did not run. The false-alarm row runs it beside the agents and sets each lease
 * loss beside the stalls just before it (scripts/bench/stall-witness.ts).
 *
 * Prints one JSON line per late wake-up, {"cpu":N,"deadlineUs":D,"lateUs":L} (D on
 * CLOCK_MONOTONIC, the agents' clock), and on SIGTERM, SIGINT or after SECONDS one summary
 * line {"summary":[{"cpu":N,"wakeups":W,"over":O,"maxLateUs":M},...]}. A thread late by
 * more than a period skips the deadlines it missed instead of catching up on them.
 *
 *   bench-stall-witness THRESHOLD_US SECONDS
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PERIOD_NS 1000000LL
#define MAX_CPUS 256

struct witness {
  int cpu;
  long long wakeups;
  long long over;
  long long max_late_ns;
};

static long long threshold_ns;
static long long end_ns;
static volatile sig_atomic_t stopping;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static long long ns_of(struct timespec t) { return (long long)t.tv_sec * 1000000000LL + t.tv_nsec; }

static struct timespec timespec_of(long long ns) {
  struct timespec t = {.tv_sec = ns / 1000000000LL, .tv_nsec = ns % 1000000000LL};
  return t;
}

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return ns_of(t);
}

static void *watch(void *arg) {
  struct witness *w = arg;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(w->cpu, &set);
  if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) {
    fprintf(stderr, "bench-stall-witness: cannot pin a thread to CPU %d\n", w->cpu);
    exit(1);
  }
  struct sched_param param = {.sched_priority = 99};
  if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &param) != 0) {
    fprintf(stderr, "bench-stall-witness: SCHED_FIFO 99 refused (run as root)\n");
    exit(1);
  }
  long long next = now_ns() + PERIOD_NS;
  while (!stopping && next < end_ns) {
    struct timespec at = timespec_of(next);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) != 0 && !stopping) {
    }
    long long woke = now_ns();
    long long late = woke - next;
    w->wakeups += 1;
    if (late > w->max_late_ns) w->max_late_ns = late;
    if (late > threshold_ns) {
      w->over += 1;
      pthread_mutex_lock(&out_lock);
      printf("{\"cpu\":%d,\"deadlineUs\":%lld,\"lateUs\":%lld}\n", w->cpu, next / 1000, late / 1000);
      fflush(stdout);
      pthread_mutex_unlock(&out_lock);
    }
    next += PERIOD_NS;
    // Missed deadlines are skipped: the stall was reported once, as one late wake-up.
    if (next <= woke) next = woke - (woke - next) % PERIOD_NS + PERIOD_NS;
  }
  return NULL;
}

static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: bench-stall-witness THRESHOLD_US SECONDS\n");
    return 2;
  }
  threshold_ns = atoll(argv[1]) * 1000LL;
  long long seconds = atoll(argv[2]);
  if (threshold_ns <= 0 || seconds <= 0) {
    fprintf(stderr, "bench-stall-witness: THRESHOLD_US and SECONDS must be positive\n");
    return 2;
  }
  end_ns = now_ns() + seconds * 1000000000LL;
  if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0) perror("bench-stall-witness: mlockall");
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  if (cpus < 1) cpus = 1;
  if (cpus > MAX_CPUS) cpus = MAX_CPUS;
  static struct witness witnesses[MAX_CPUS];
  pthread_t threads[MAX_CPUS];
  for (long i = 0; i < cpus; i += 1) {
    witnesses[i].cpu = (int)i;
    if (pthread_create(&threads[i], NULL, watch, &witnesses[i]) != 0) {
      fprintf(stderr, "bench-stall-witness: cannot start a thread\n");
      return 1;
    }
  }
  for (long i = 0; i < cpus; i += 1) pthread_join(threads[i], NULL);
  printf("{\"summary\":[");
  for (long i = 0; i < cpus; i += 1)
    printf("%s{\"cpu\":%d,\"wakeups\":%lld,\"over\":%lld,\"maxLateUs\":%lld}", i == 0 ? "" : ",", witnesses[i].cpu,
           witnesses[i].wakeups, witnesses[i].over, witnesses[i].max_late_ns / 1000);
  printf("]}\n");
  fflush(stdout);
  return 0;
}
