/*
 * bench-timer: the floor of a native probe scheduler. Wakes at absolute deadlines every
 * INTERVAL_US on CLOCK_MONOTONIC with clock_nanosleep(TIMER_ABSTIME) for SECONDS and prints
 * the lateness (wake-up minus deadline, µs) p50/p99/max and its own CPU use as one JSON line.
 * Without `ping` no packets: it measures only what a native timer would give the probe loop.
 *
 * With `ping TARGET` it is the floor of a whole native probe loop: at each deadline one ICMP
 * echo request to TARGET over a raw socket, then the reply awaited with poll(2) until the next
 * deadline (replies to other identifiers ignored). Lateness is then measured at the send, and
 * the JSON line adds sent, replies and the RTT p50/p99 (µs). Its CPU use includes the kernel's
 * share of the round trip (in a lab on veth and a bridge, the peer's reply is processed in the
 * sender's softirq too). Run it in a network namespace: it sends only to TARGET.
 *
 *   bench-timer INTERVAL_US SECONDS [fifo PRIO] [ping TARGET]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>

#define BUCKETS 200001 /* 0 .. 200 ms in µs */

static unsigned int histogram[BUCKETS];
static unsigned int rtt_histogram[BUCKETS];

static uint16_t checksum(const uint8_t *data, size_t length) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < length; i += 2) sum += (uint32_t)((data[i] << 8) | data[i + 1]);
  if (length & 1) sum += (uint32_t)(data[length - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

static uint64_t ns(const struct timespec *t) { return (uint64_t)t->tv_sec * 1000000000ULL + (uint64_t)t->tv_nsec; }

static long percentile_of(const unsigned int *h, unsigned long total, double q) {
  unsigned long want = (unsigned long)(q * (double)total + 0.999999), seen = 0;
  if (want == 0) want = 1;
  for (long i = 0; i < BUCKETS; i++) {
    seen += h[i];
    if (seen >= want) return i;
  }
  return BUCKETS - 1;
}

static long percentile(unsigned long total, double q) { return percentile_of(histogram, total, q); }

/* Reads what is waiting on the raw socket; records the RTT of a reply to (id, seq). */
static int drain_replies(int fd, uint16_t id, uint16_t seq, uint64_t sent_ns) {
  uint8_t buffer[1500];
  int got = 0;
  for (;;) {
    ssize_t n = recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n < 0) return got;
    if (n < 20) continue;
    size_t ihl = (size_t)(buffer[0] & 0x0f) * 4;
    if ((size_t)n < ihl + 8) continue;
    const uint8_t *icmp = buffer + ihl;
    if (icmp[0] != ICMP_ECHOREPLY) continue;
    uint16_t rid = (uint16_t)((icmp[4] << 8) | icmp[5]), rseq = (uint16_t)((icmp[6] << 8) | icmp[7]);
    if (rid != id || rseq != seq) continue;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long rtt = (long)((ns(&now) - sent_ns) / 1000ULL);
    rtt_histogram[rtt >= 0 && rtt < BUCKETS ? rtt : BUCKETS - 1]++;
    got = 1;
  }
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: bench-timer INTERVAL_US SECONDS [fifo PRIO] [ping TARGET]\n");
    return 2;
  }
  long interval_us = atol(argv[1]);
  double seconds = atof(argv[2]);
  const char *target = NULL;
  for (int i = 3; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "fifo") == 0) {
      struct sched_param sp = {.sched_priority = atoi(argv[i + 1])};
      if (sched_setscheduler(0, SCHED_FIFO, &sp) != 0) perror("sched_setscheduler");
    } else if (strcmp(argv[i], "ping") == 0) {
      target = argv[i + 1];
    } else {
      fprintf(stderr, "bench-timer: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  int fd = -1;
  struct sockaddr_in to = {.sin_family = AF_INET};
  uint16_t id = (uint16_t)(getpid() & 0xffff);
  if (target != NULL) {
    if (inet_pton(AF_INET, target, &to.sin_addr) != 1) {
      fprintf(stderr, "bench-timer: ping target %s is not an IPv4 address\n", target);
      return 2;
    }
    fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    if (fd < 0) {
      perror("bench-timer: raw socket");
      return 1;
    }
  }
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  struct timespec start, deadline, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  deadline = start;
  unsigned long count = 0, sent = 0, replies = 0;
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
    if (fd < 0) continue;
    uint16_t seq = (uint16_t)(count & 0xffff);
    uint8_t packet[16] = {ICMP_ECHO, 0, 0, 0, (uint8_t)(id >> 8), (uint8_t)id, (uint8_t)(seq >> 8), (uint8_t)seq, 'h', 'o', 't', 's', 'p', 'a', 'r', 'e'};
    uint16_t sum = checksum(packet, sizeof packet);
    packet[2] = (uint8_t)(sum >> 8);
    packet[3] = (uint8_t)sum;
    uint64_t sent_ns = ns(&now);
    if (sendto(fd, packet, sizeof packet, 0, (struct sockaddr *)&to, sizeof to) == (ssize_t)sizeof packet) sent++;
    /* Wait for the reply until shortly before the next deadline. */
    uint64_t next = ns(&deadline) + (uint64_t)interval_us * 1000ULL;
    for (;;) {
      struct timespec t;
      clock_gettime(CLOCK_MONOTONIC, &t);
      uint64_t left = next > ns(&t) + 200000ULL ? next - ns(&t) - 200000ULL : 0;
      if (left == 0) break;
      struct pollfd p = {.fd = fd, .events = POLLIN};
      struct timespec wait = {.tv_sec = (time_t)(left / 1000000000ULL), .tv_nsec = (long)(left % 1000000000ULL)};
      if (ppoll(&p, 1, &wait, NULL) <= 0) break;
      if (drain_replies(fd, id, seq, sent_ns)) {
        replies++;
        break;
      }
    }
  }
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  double cpu_s = (double)usage.ru_utime.tv_sec + (double)usage.ru_utime.tv_usec / 1e6 + (double)usage.ru_stime.tv_sec + (double)usage.ru_stime.tv_usec / 1e6;
  if (fd < 0) {
    printf("{\"samples\":%lu,\"p50\":%ld,\"p99\":%ld,\"max\":%ld,\"cpuPercent\":%.3f}\n", count, percentile(count, 0.5), percentile(count, 0.99), max, cpu_s / seconds * 100.0);
  } else {
    printf("{\"samples\":%lu,\"p50\":%ld,\"p99\":%ld,\"max\":%ld,\"cpuPercent\":%.3f,\"sent\":%lu,\"replies\":%lu,\"rttP50\":%ld,\"rttP99\":%ld}\n", count, percentile(count, 0.5), percentile(count, 0.99), max, cpu_s / seconds * 100.0, sent, replies,
           replies ? percentile_of(rtt_histogram, replies, 0.5) : -1, replies ? percentile_of(rtt_histogram, replies, 0.99) : -1);
    close(fd);
  }
  return 0;
}
