/*
 * hotspare-enforcer IFACE CIDR: the lease enforcer (README "Takeover gates", `lease`).
 *
 * Reads lines on stdin: `hold US` (a deadline on CLOCK_MONOTONIC, in microseconds) and
 * `disarm`. At the deadline it deletes the IPv4 address CIDR from IFACE through rtnetlink
 * and prints `expired LATE_US DEADLINE_US` (the deadline it enforced).
 *
 * Two writers (`lease.thread: twins`, one lease thread per CPU, each renewing the same
 * lease on its own) write `hold SLOT US` and `disarm SLOT` (SLOT 0 or 1; the forms without
 * a slot are slot 0). The deadline enforced is the latest of the armed slots: each writer's
 * deadline is one its own majority granted, so the latest is a lease the voters promised,
 * and a writer whose thread stalled (its slot not moved on) does not cut the other's lease
 * short. A deletion ends both slots. It is a process of its
 * own so that a hung agent (SIGSTOP, a stalled event loop) cannot keep the address past its
 * lease; when stdin closes (the agent died) the armed deadline still fires, then it exits.
 * SIGTERM, SIGINT or SIGHUP while armed: the address goes at once.
 *
 * Why C and not the Node enforcer beside it (enforcer-main.ts): it wakes from a timerfd set
 * for the absolute deadline, at SCHED_FIFO when allowed, with its memory locked (mlockall),
 * and deletes the address with one netlink message instead of running `ip`. A loaded
 * machine, a page fault or a garbage-collection pause then cannot make it late, and
 * `lease.drop_ms` covers a wake-up and a system call. Without the rights for SCHED_FIFO or
 * mlockall it says so on stderr and goes on at normal priority.
 *
 * A SCHED_FIFO thread still needs the CPU it is woken on, and its timer fires on the CPU
 * that armed it: a CPU held elsewhere (interrupts off, a higher SCHED_FIFO task, a virtual CPU
 * its host does not run, or a kernel that does not preempt a long system call) delays it
 * while another CPU is free. The lab saw the enforcer 41 and 82 ms late that way. So besides
 * the main thread, one watcher thread per CPU it may run on, pinned there, waits for the same
 * deadline on a timerfd it arms itself, on its own CPU; the first to run deletes the address
 * (under one mutex; the others find the deadline gone). A deadline is late only when every
 * CPU is held.
 *
 * Same protocol as enforcer-main.ts, so hal/lease/linux.ts can run either.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "../base/rtnl-address.h"

/* SCHED_FIFO priority: above the agent's clock (10) and prober (11) threads. */
#define FIFO_PRIORITY 20

static const char *iface;
static struct in_addr address;
static int prefix;
static int64_t deadline_us = -1; /* -1: disarmed; read and written under `lock` */
/* Each writer's deadline (-1: disarmed); `deadline_us` is the latest of them. Under `lock`. */
#define SLOTS 2
static int64_t slot_us[SLOTS] = {-1, -1};
/* The deadline, the deletion and stdout are shared by the main thread and the watchers. */
static pthread_mutex_t lock;

#define MAX_WATCHERS 256
/* Per watcher: its eventfd, poked when a deadline comes earlier than the one before it. */
static int watcher_pokes[MAX_WATCHERS];
static int watchers;

static int64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Parses CIDR (a.b.c.d/len) into address and prefix; 0 on success. */
static int parse_cidr(const char *cidr) {
  char buf[64];
  if (strlen(cidr) >= sizeof buf) return -1;
  strcpy(buf, cidr);
  char *slash = strchr(buf, '/');
  if (slash == NULL) return -1;
  *slash = '\0';
  char *end;
  long len = strtol(slash + 1, &end, 10);
  if (*end != '\0' || len < 0 || len > 32) return -1;
  if (inet_pton(AF_INET, buf, &address) != 1) return -1;
  prefix = (int)len;
  return 0;
}

/*
 * Deletes the address from the interface: 1 deleted, 0 it was not there (or the interface
 * is gone), -1 an error (said on stderr).
 */
static int delete_address(void) {
  unsigned index = if_nametoindex(iface);
  if (index == 0) return 0;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) {
    fprintf(stderr, "hotspare-enforcer: netlink socket: %s\n", strerror(errno));
    return -1;
  }
  int error = hs_rtnl_address(fd, RTM_DELADDR, 0, index, address, prefix, 1);
  close(fd);
  if (error == 0) return 1;
  if (error == EADDRNOTAVAIL || error == ENODEV) return 0;
  fprintf(stderr, "hotspare-enforcer: deleting the address: %s\n", strerror(error));
  return -1;
}

/* Sets the timerfd for the absolute deadline (-1: disarmed); 0 on success. */
static int set_timer(int tfd, int64_t deadline) {
  struct itimerspec spec;
  memset(&spec, 0, sizeof spec);
  if (deadline >= 0) {
    /* A zero it_value disarms: a deadline at 0 is set 1 ns later instead. */
    spec.it_value.tv_sec = deadline / 1000000;
    spec.it_value.tv_nsec = (deadline % 1000000) * 1000;
    if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
  }
  return timerfd_settime(tfd, TFD_TIMER_ABSTIME, &spec, NULL);
}

/* The main thread's timer: one it cannot set leaves nothing to enforce with, so it exits. */
static void arm(int tfd, int64_t deadline) {
  if (set_timer(tfd, deadline) != 0) {
    fprintf(stderr, "hotspare-enforcer: timerfd_settime: %s\n", strerror(errno));
    exit(1);
  }
}

/* The deadline has come (or the enforcer is told to end while armed): drop the address. Under `lock`. */
static void fire(void) {
  if (deadline_us < 0) return;
  int64_t deadline = deadline_us;
  int64_t late = now_us() - deadline;
  deadline_us = -1;
  for (int i = 0; i < SLOTS; i++) slot_us[i] = -1;
  if (delete_address() == 1) {
    printf("expired %lld %lld\n", (long long)(late < 0 ? 0 : late), (long long)deadline);
    fflush(stdout);
  }
}

/* The latest armed slot's deadline (-1: none armed). Under `lock`. */
static int64_t latest_slot(void) {
  int64_t latest = -1;
  for (int i = 0; i < SLOTS; i++)
    if (slot_us[i] > latest) latest = slot_us[i];
  return latest;
}

/*
 * One line of input: `hold US`, `hold SLOT US`, `disarm` or `disarm SLOT`; anything else is
 * said on stderr and ignored. Under `lock`.
 */
static void handle_line(const char *line) {
  char *end;
  if (strncmp(line, "hold ", 5) == 0) {
    long long first = strtoll(line + 5, &end, 10);
    if (end != line + 5 && *end == '\0' && first >= 0) {
      slot_us[0] = first;
      deadline_us = latest_slot();
      return;
    }
    if (end != line + 5 && *end == ' ' && first >= 0 && first < SLOTS) {
      const char *rest = end + 1;
      long long us = strtoll(rest, &end, 10);
      if (end != rest && *end == '\0' && us >= 0) {
        slot_us[first] = us;
        deadline_us = latest_slot();
        return;
      }
    }
  } else if (strcmp(line, "disarm") == 0) {
    slot_us[0] = -1;
    deadline_us = latest_slot();
    return;
  } else if (strncmp(line, "disarm ", 7) == 0) {
    long long slot = strtoll(line + 7, &end, 10);
    if (end != line + 7 && *end == '\0' && slot >= 0 && slot < SLOTS) {
      slot_us[slot] = -1;
      deadline_us = latest_slot();
      return;
    }
  }
  fprintf(stderr, "hotspare lease enforcer: ignoring \"%.40s\"\n", line);
}

/*
 * Arms the main thread's timer for `current` (the deadline just set) and tells the watchers
 * of one that comes earlier than `before` (or after none): a later one they find when their
 * timer for the earlier one fires, so renewals, which only move it later, wake nobody.
 * Called after `lock` is let go: setting a timer and waking a watcher (an interrupt to
 * another CPU) are where a virtual machine's host may stop this CPU, and a watcher on
 * another CPU must not wait for the lock meanwhile. A deadline fired in between leaves this
 * timer armed for nothing: it wakes, finds none, and sleeps again.
 */
static void arm_all(int tfd, int64_t before, int64_t current) {
  arm(tfd, current);
  if (current < 0 || (before >= 0 && current >= before)) return;
  uint64_t one = 1;
  for (int i = 0; i < watchers; i++)
    if (write(watcher_pokes[i], &one, sizeof one) < 0 && errno != EAGAIN)
      fprintf(stderr, "hotspare-enforcer: watcher eventfd write: %s\n", strerror(errno));
}

struct watcher {
  int timer;
  int poke;
};

/*
 * A watcher: sleeps on its own timerfd, armed from its own CPU (a timer fires on the CPU that
 * armed it), wakes at its deadline or when poked, fires a deadline that has come and re-arms
 * for the current one.
 */
static void *watch(void *arg) {
  const struct watcher *w = arg;
  int64_t armed_for = -1;
  for (;;) {
    struct pollfd fds[2] = {{.fd = w->timer, .events = POLLIN}, {.fd = w->poke, .events = POLLIN}};
    if (poll(fds, 2, -1) < 0 && errno != EINTR) {
      fprintf(stderr, "hotspare-enforcer: watcher poll: %s\n", strerror(errno));
      return NULL;
    }
    uint64_t count;
    if ((fds[0].revents & POLLIN) && read(w->timer, &count, sizeof count) < 0 && errno != EAGAIN)
      fprintf(stderr, "hotspare-enforcer: watcher timerfd read: %s\n", strerror(errno));
    if ((fds[1].revents & POLLIN) && read(w->poke, &count, sizeof count) < 0 && errno != EAGAIN)
      fprintf(stderr, "hotspare-enforcer: watcher eventfd read: %s\n", strerror(errno));
    pthread_mutex_lock(&lock);
    if (deadline_us >= 0 && now_us() >= deadline_us) fire();
    int64_t current = deadline_us;
    pthread_mutex_unlock(&lock);
    if (current != armed_for) {
      if (set_timer(w->timer, current) != 0)
        fprintf(stderr, "hotspare-enforcer: watcher timerfd_settime: %s\n", strerror(errno));
      armed_for = current;
    }
  }
}

/*
 * Starts one watcher per CPU in this process's affinity mask, pinned there, at SCHED_FIFO
 * when allowed (else at normal priority: still one per CPU). Returns how many started.
 */
static int start_watchers(int fifo) {
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) {
    fprintf(stderr, "hotspare-enforcer: sched_getaffinity: %s; no watcher threads\n", strerror(errno));
    return 0;
  }
  static struct watcher each[MAX_WATCHERS];
  int started = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE && started < MAX_WATCHERS; cpu++) {
    if (!CPU_ISSET(cpu, &allowed)) continue;
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    int poke = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0 || poke < 0) {
      fprintf(stderr, "hotspare-enforcer: watcher %s: %s\n", fd < 0 ? "timerfd_create" : "eventfd", strerror(errno));
      if (fd >= 0) close(fd);
      if (poke >= 0) close(poke);
      break;
    }
    each[started] = (struct watcher){.timer = fd, .poke = poke};
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    pthread_attr_setaffinity_np(&attr, sizeof one, &one);
    if (fifo) {
      struct sched_param param = {.sched_priority = FIFO_PRIORITY};
      pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
      pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
      pthread_attr_setschedparam(&attr, &param);
    }
    pthread_t thread;
    int rc = pthread_create(&thread, &attr, watch, &each[started]);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
      fprintf(stderr, "hotspare-enforcer: watcher thread on CPU %d: %s\n", cpu, strerror(rc));
      close(fd);
      close(poke);
      continue;
    }
    pthread_detach(thread);
    watcher_pokes[started] = poke;
    started++;
  }
  return started;
}

int main(int argc, char **argv) {
  if (argc != 3 || parse_cidr(argv[2]) != 0) {
    fprintf(stderr, "usage: hotspare-enforcer IFACE CIDR (an IPv4 address with its prefix length)\n");
    return 2;
  }
  iface = argv[1];
  if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0)
    fprintf(stderr, "hotspare-enforcer: mlockall: %s; going on with memory that may be paged out\n", strerror(errno));
  struct sched_param param = {.sched_priority = FIFO_PRIORITY};
  int fifo = sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &param) == 0;
  if (!fifo)
    fprintf(stderr, "hotspare-enforcer: SCHED_FIFO %d: %s; going on at normal priority\n", FIFO_PRIORITY,
            strerror(errno));
  pthread_mutexattr_t mutex_attr;
  pthread_mutexattr_init(&mutex_attr);
  pthread_mutexattr_setprotocol(&mutex_attr, PTHREAD_PRIO_INHERIT);
  pthread_mutex_init(&lock, &mutex_attr);

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
  if (sfd < 0 || tfd < 0) {
    fprintf(stderr, "hotspare-enforcer: %s: %s\n", sfd < 0 ? "signalfd" : "timerfd_create", strerror(errno));
    return 1;
  }
  /* Started after the signals are blocked: the watchers inherit the mask, so a signal is
   * the main thread's to take. */
  watchers = start_watchers(fifo);

  char buffer[4096];
  size_t used = 0;
  int input_open = 1;
  for (;;) {
    struct pollfd fds[3] = {
        {.fd = input_open ? STDIN_FILENO : -1, .events = POLLIN},
        {.fd = tfd, .events = POLLIN},
        {.fd = sfd, .events = POLLIN},
    };
    if (poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "hotspare-enforcer: poll: %s\n", strerror(errno));
      return 1;
    }
    if (fds[2].revents & POLLIN) {
      /* Asked to end: it can no longer enforce an armed deadline, so the address goes now. */
      pthread_mutex_lock(&lock);
      fire();
      return 0;
    }
    if (fds[1].revents & POLLIN) {
      uint64_t expirations;
      if (read(tfd, &expirations, sizeof expirations) < 0 && errno != EAGAIN) {
        fprintf(stderr, "hotspare-enforcer: timerfd read: %s\n", strerror(errno));
      }
      pthread_mutex_lock(&lock);
      if (deadline_us >= 0 && now_us() >= deadline_us) fire();
      int done = !input_open && deadline_us < 0;
      pthread_mutex_unlock(&lock);
      if (done) return 0;
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t got = read(STDIN_FILENO, buffer + used, sizeof buffer - 1 - used);
      if (got <= 0) {
        if (got < 0 && errno == EINTR) continue;
        /* The agent is gone: the armed deadline still fires, then the enforcer ends. */
        input_open = 0;
        pthread_mutex_lock(&lock);
        int done = deadline_us < 0;
        pthread_mutex_unlock(&lock);
        if (done) return 0;
        continue;
      }
      used += (size_t)got;
      buffer[used] = '\0';
      pthread_mutex_lock(&lock);
      int64_t before = deadline_us;
      char *start = buffer;
      char *nl;
      while ((nl = strchr(start, '\n')) != NULL) {
        *nl = '\0';
        char *line = start;
        while (*line == ' ' || *line == '\t' || *line == '\r') line++;
        size_t n = strlen(line);
        while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r')) line[--n] = '\0';
        handle_line(line);
        start = nl + 1;
      }
      used = strlen(start);
      memmove(buffer, start, used);
      /* A line longer than the buffer is nobody's protocol: drop it. */
      if (used == sizeof buffer - 1) used = 0;
      int64_t current = deadline_us;
      pthread_mutex_unlock(&lock);
      arm_all(tfd, before, current);
    }
  }
}
