/*
 * bench-impair-hub: a learning Ethernet switch in user space that drops and delays frames the
 * way `tc qdisc ... netem loss P delay D J` on every egress port would. For kernels built
 * without sch_netem (CONFIG_NET_SCH_NETEM unset), so that the benchmark's false-alarm run
 * can still put loss and jitter on the lab's LAN.
 *
 *   bench-impair-hub --loss 0.01 --delay-us 0 --jitter-us 2000 [--seed N] [--fifo PRIO] PORT...
 *
 * Runs in the LAN namespace. Opens one AF_PACKET socket per PORT (the lab's bridge ports,
 * taken out of the bridge by the harness), prints {"ready":true} on stdout, waits for a line
 * on stdin ("go"), then forwards: each frame received on a port goes to the port that learned
 * its destination MAC (or to every other port for broadcast, multicast and unknown ones);
 * per egress port it is dropped with probability `loss`, otherwise sent after a delay drawn
 * uniformly from [delay - jitter, delay + jitter] (negative means at once: what netem does
 * without a distribution table). Frames wait in a heap ordered by send time (netem's tfifo).
 * A frame whose checksum the sender left to the NIC (a veth's UDP and TCP carry only the
 * pseudo-header's sum: the kernel marks them TP_STATUS_CSUMNOTREADY) gets its IPv4 UDP or TCP
 * checksum completed before it is queued: sent on through a packet socket as it is, the
 * receiver would drop it as corrupt (the agents' UDP heartbeats and lease grants would never
 * arrive, while pings and ARP do).
 * Every second, and at the end, it prints counters as one JSON line on stdout. Ends on stdin
 * EOF, SIGTERM or SIGINT. With --fifo it runs SCHED_FIFO, so that CPU load on the machine
 * does not add to the configured delay (its own lateness is reported as late_max_us).
 *
 * It forwards with one thread pinned to each CPU (--threads N: the first N), each polling
 * every port and sending the frames it received from a queue of its own. A virtual CPU that
 * its host stops for 100 ms (seen on this lab's machine: the stall witness of the
 * benchmark) would freeze a switch of one thread, and with it the whole LAN; here the
 * other thread goes on receiving and sending, and only the frames the stopped thread had
 * queued wait for it. The MAC table is shared; a thread that finds it busy floods the frame
 * (as a switch does with an unknown destination) and learns nothing from it, so no thread
 * ever waits for a stopped one.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <pthread.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PORTS 16
#define MAX_FRAME 65536
#define MAX_QUEUE 65536
#define MAC_TABLE 64

#define MAX_WORKERS 16

struct frame {
  uint64_t due_ns;
  uint64_t seq;
  int port;
  int len;
  unsigned char *data;
};

/* One forwarding thread: its CPU, its queue, its random state and its counters. */
struct worker {
  int index;
  int cpu;
  pthread_t thread;
  struct frame heap[MAX_QUEUE];
  int heap_len;
  uint64_t seq;
  uint64_t rng;
  unsigned long long received, forwarded, dropped, overflow, send_errors, checksummed;
  unsigned long long delayed_total_us, late_count;
  long long late_total_ns, late_max_ns;
  unsigned char buffer[MAX_FRAME];
};

static struct worker workers[MAX_WORKERS];
static int nworkers = 0;
static int sockets[MAX_PORTS];
static int nports = 0;
static unsigned char macs[MAC_TABLE][6];
static int mac_port[MAC_TABLE];
static int nmacs = 0;
static pthread_mutex_t mac_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile sig_atomic_t stopping = 0;
static double loss = 0.0;
static long delay_us = 0, jitter_us = 0;

/* Counters are written by their thread and read by the one that prints: relaxed atomics. */
#define ADD(field, n) __atomic_fetch_add(&(field), (n), __ATOMIC_RELAXED)
#define GET(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

/*
 * Completes the L4 checksum of an IPv4 UDP or TCP frame received with
 * TP_STATUS_CSUMNOTREADY: its checksum field holds the pseudo-header's sum, so the one's
 * complement sum over the whole segment, field included, complemented, is the checksum (what
 * the kernel's skb_checksum_help does). Other frames are left alone.
 */
static void complete_checksum(struct worker *w, unsigned char *frame, size_t len) {
  if (len < 14 + 20 || frame[12] != 0x08 || frame[13] != 0x00) return;
  unsigned char *ip = frame + 14;
  size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
  size_t total = ((size_t)ip[2] << 8) | ip[3];
  if ((ip[0] >> 4) != 4 || ihl < 20 || total < ihl || 14 + total > len) return;
  size_t field;
  if (ip[9] == 17) field = 6;
  else if (ip[9] == 6) field = 16;
  else return;
  unsigned char *l4 = ip + ihl;
  size_t l4len = total - ihl;
  if (l4len < field + 2) return;
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < l4len; i += 2) sum += ((uint32_t)l4[i] << 8) | l4[i + 1];
  if (l4len & 1) sum += (uint32_t)l4[l4len - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  uint16_t checksum = (uint16_t)~sum;
  if (checksum == 0 && ip[9] == 17) checksum = 0xffff;
  l4[field] = (unsigned char)(checksum >> 8);
  l4[field + 1] = (unsigned char)(checksum & 0xff);
  ADD(w->checksummed, 1);
}
static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t next_random(struct worker *w) {
  /* xorshift64* */
  w->rng ^= w->rng >> 12;
  w->rng ^= w->rng << 25;
  w->rng ^= w->rng >> 27;
  return w->rng * 0x2545F4914F6CDD1DULL;
}

static double uniform(struct worker *w) { return (double)(next_random(w) >> 11) / 9007199254740992.0; }

static int earlier(const struct frame *a, const struct frame *b) {
  return a->due_ns < b->due_ns || (a->due_ns == b->due_ns && a->seq < b->seq);
}

static void heap_push(struct worker *w, struct frame f) {
  struct frame *heap = w->heap;
  int i = w->heap_len++;
  heap[i] = f;
  while (i > 0) {
    int parent = (i - 1) / 2;
    if (!earlier(&heap[i], &heap[parent])) break;
    struct frame t = heap[i];
    heap[i] = heap[parent];
    heap[parent] = t;
    i = parent;
  }
}

static struct frame heap_pop(struct worker *w) {
  struct frame *heap = w->heap;
  int heap_len = --w->heap_len;
  struct frame top = heap[0];
  heap[0] = heap[heap_len];
  int i = 0;
  for (;;) {
    int l = 2 * i + 1, r = l + 1, m = i;
    if (l < heap_len && earlier(&heap[l], &heap[m])) m = l;
    if (r < heap_len && earlier(&heap[r], &heap[m])) m = r;
    if (m == i) break;
    struct frame t = heap[i];
    heap[i] = heap[m];
    heap[m] = t;
    i = m;
  }
  return top;
}

/* The port that learned `mac`; -1: unknown, or the table busy (the frame is flooded). */
static int lookup_mac(const unsigned char *mac) {
  if (pthread_mutex_trylock(&mac_lock) != 0) return -1;
  int port = -1;
  for (int i = 0; i < nmacs; i++)
    if (memcmp(macs[i], mac, 6) == 0) {
      port = mac_port[i];
      break;
    }
  pthread_mutex_unlock(&mac_lock);
  return port;
}

/* Learns where `mac` is; skipped when the table is busy (the next frame from it teaches it). */
static void learn_mac(const unsigned char *mac, int port) {
  if (mac[0] & 1) return;
  if (pthread_mutex_trylock(&mac_lock) != 0) return;
  int i = 0;
  for (; i < nmacs; i++)
    if (memcmp(macs[i], mac, 6) == 0) break;
  if (i < nmacs) mac_port[i] = port;
  else if (nmacs < MAC_TABLE) {
    memcpy(macs[nmacs], mac, 6);
    mac_port[nmacs++] = port;
  }
  pthread_mutex_unlock(&mac_lock);
}

static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

static void print_counters(const char *kind) {
  unsigned long long received = 0, forwarded = 0, dropped = 0, overflow = 0, send_errors = 0, checksummed = 0;
  unsigned long long delayed_total_us = 0, late_count = 0;
  long long late_total_ns = 0, late_max_ns = 0;
  int queued = 0;
  for (int i = 0; i < nworkers; i++) {
    struct worker *w = &workers[i];
    received += GET(w->received);
    forwarded += GET(w->forwarded);
    dropped += GET(w->dropped);
    overflow += GET(w->overflow);
    send_errors += GET(w->send_errors);
    checksummed += GET(w->checksummed);
    delayed_total_us += GET(w->delayed_total_us);
    late_count += GET(w->late_count);
    late_total_ns += GET(w->late_total_ns);
    long long max = GET(w->late_max_ns);
    if (max > late_max_ns) late_max_ns = max;
    queued += GET(w->heap_len);
  }
  pthread_mutex_lock(&out_lock);
  printf("{\"%s\":true,\"threads\":%d,\"received\":%llu,\"forwarded\":%llu,\"dropped\":%llu,\"overflow\":%llu,\"send_errors\":%llu,"
         "\"checksummed\":%llu,\"queued\":%d,\"delay_mean_us\":%.1f,\"late_mean_us\":%.1f,\"late_max_us\":%.1f}\n",
         kind, nworkers, received, forwarded, dropped, overflow, send_errors, checksummed, queued,
         forwarded == 0 ? 0.0 : (double)delayed_total_us / (double)forwarded,
         late_count == 0 ? 0.0 : (double)late_total_ns / 1000.0 / (double)late_count, (double)late_max_ns / 1000.0);
  fflush(stdout);
  pthread_mutex_unlock(&out_lock);
}

static void enqueue(struct worker *w, int out, const unsigned char *data, int len) {
  if (uniform(w) < loss) {
    ADD(w->dropped, 1);
    return;
  }
  long d = delay_us;
  if (jitter_us > 0) d += (long)(uniform(w) * (double)(2 * jitter_us)) - jitter_us;
  if (d < 0) d = 0;
  if (w->heap_len >= MAX_QUEUE) {
    ADD(w->overflow, 1);
    return;
  }
  unsigned char *copy = malloc((size_t)len);
  if (copy == NULL) {
    ADD(w->overflow, 1);
    return;
  }
  memcpy(copy, data, (size_t)len);
  struct frame f = {now_ns() + (uint64_t)d * 1000ULL, w->seq++, out, len, copy};
  ADD(w->delayed_total_us, (unsigned long long)d);
  heap_push(w, f);
}

/* One forwarding thread: receives from every port, sends what it queued when it is due. */
static void *forward(void *arg) {
  struct worker *w = arg;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(w->cpu, &set);
  if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0)
    fprintf(stderr, "thread %d: cannot pin to CPU %d (continuing unpinned)\n", w->index, w->cpu);
  struct pollfd fds[MAX_PORTS];
  for (int i = 0; i < nports; i++) {
    fds[i].fd = sockets[i];
    fds[i].events = POLLIN;
  }
  uint64_t next_report = now_ns() + 1000000000ULL;
  while (!stopping) {
    uint64_t now = now_ns();
    /* Send everything that is due. */
    while (w->heap_len > 0 && w->heap[0].due_ns <= now) {
      struct frame f = heap_pop(w);
      long long late = (long long)(now - f.due_ns);
      ADD(w->late_total_ns, late);
      ADD(w->late_count, 1);
      if (late > GET(w->late_max_ns)) __atomic_store_n(&w->late_max_ns, late, __ATOMIC_RELAXED);
      if (send(sockets[f.port], f.data, (size_t)f.len, 0) < 0) ADD(w->send_errors, 1);
      else ADD(w->forwarded, 1);
      free(f.data);
      now = now_ns();
    }
    /* The first thread prints the counters of all. */
    if (w->index == 0 && now >= next_report) {
      print_counters("counters");
      next_report = now + 1000000000ULL;
    }
    /* At most 100 ms, so that the end is seen. */
    uint64_t wait_ns = 100000000ULL;
    if (w->index == 0 && next_report - now < wait_ns) wait_ns = next_report - now;
    if (w->heap_len > 0 && w->heap[0].due_ns - now < wait_ns) wait_ns = w->heap[0].due_ns > now ? w->heap[0].due_ns - now : 0;
    struct timespec timeout = {(time_t)(wait_ns / 1000000000ULL), (long)(wait_ns % 1000000000ULL)};
    int ready = ppoll(fds, (nfds_t)nports, &timeout, NULL);
    if (ready < 0) {
      if (errno == EINTR) continue;
      perror("ppoll");
      stopping = 1;
      break;
    }
    for (int i = 0; i < nports; i++) {
      if (!(fds[i].revents & POLLIN)) continue;
      for (;;) {
        union {
          struct cmsghdr align;
          unsigned char space[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
        } control;
        struct iovec iov = {.iov_base = w->buffer, .iov_len = sizeof w->buffer};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof control};
        /* Both threads wake for a frame; the one that reads it first forwards it. */
        ssize_t n = recvmsg(sockets[i], &msg, 0);
        if (n < 0) break;
        if (n < 14) continue;
        ADD(w->received, 1);
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
          if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA) continue;
          struct tpacket_auxdata aux;
          memcpy(&aux, CMSG_DATA(c), sizeof aux);
          if (aux.tp_status & TP_STATUS_CSUMNOTREADY) complete_checksum(w, w->buffer, (size_t)n);
        }
        learn_mac(w->buffer + 6, i);
        int target = (w->buffer[0] & 1) ? -1 : lookup_mac(w->buffer);
        for (int out = 0; out < nports; out++) {
          if (out == i || (target >= 0 && out != target)) continue;
          enqueue(w, out, w->buffer, (int)n);
        }
      }
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  int fifo = 0;
  uint64_t seed = 0x9e3779b97f4a7c15ULL;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  int threads = cpus < 1 ? 1 : cpus > MAX_WORKERS ? MAX_WORKERS : (int)cpus;
  const char *names[MAX_PORTS];
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--loss") == 0 && i + 1 < argc) loss = atof(argv[++i]);
    else if (strcmp(argv[i], "--delay-us") == 0 && i + 1 < argc) delay_us = atol(argv[++i]);
    else if (strcmp(argv[i], "--jitter-us") == 0 && i + 1 < argc) jitter_us = atol(argv[++i]);
    else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) seed = strtoull(argv[++i], NULL, 10) | 1ULL;
    else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
    else if (strcmp(argv[i], "--fifo") == 0 && i + 1 < argc) fifo = atoi(argv[++i]);
    else if (argv[i][0] == '-') {
      fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    } else if (nports < MAX_PORTS) names[nports++] = argv[i];
  }
  if (nports < 2) {
    fprintf(stderr, "usage: bench-impair-hub [--loss P] [--delay-us D] [--jitter-us J] [--seed N] [--fifo PRIO] [--threads N] PORT PORT...\n");
    return 2;
  }
  if (threads < 1 || threads > MAX_WORKERS) {
    fprintf(stderr, "--threads must be 1 to %d\n", MAX_WORKERS);
    return 2;
  }
  /* 1 ns timer slack: a frame's delay should not grow by the default 50 us. */
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  if (fifo > 0) {
    struct sched_param sp = {.sched_priority = fifo};
    if (sched_setscheduler(0, SCHED_FIFO, &sp) != 0) fprintf(stderr, "SCHED_FIFO %d: %s (continuing)\n", fifo, strerror(errno));
  }
  for (int i = 0; i < nports; i++) {
    int s = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(ETH_P_ALL));
    if (s < 0) {
      perror("socket");
      return 1;
    }
    int ifindex = (int)if_nametoindex(names[i]);
    if (ifindex == 0) {
      fprintf(stderr, "no interface %s\n", names[i]);
      return 1;
    }
    struct sockaddr_ll sll;
    memset(&sll, 0, sizeof sll);
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = ifindex;
    if (bind(s, (struct sockaddr *)&sll, sizeof sll) != 0) {
      perror("bind");
      return 1;
    }
    int one = 1;
    if (setsockopt(s, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) != 0) {
      perror("PACKET_IGNORE_OUTGOING");
      return 1;
    }
    /* Each frame's status, to see which ones still need their checksum. */
    if (setsockopt(s, SOL_PACKET, PACKET_AUXDATA, &one, sizeof one) != 0) {
      perror("PACKET_AUXDATA");
      return 1;
    }
    struct packet_mreq mr;
    memset(&mr, 0, sizeof mr);
    mr.mr_ifindex = ifindex;
    mr.mr_type = PACKET_MR_PROMISC;
    if (setsockopt(s, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) != 0) {
      perror("PACKET_ADD_MEMBERSHIP");
      return 1;
    }
    sockets[i] = s;
  }
  /* No SA_RESTART: a signal ends the main thread's read of stdin. */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  printf("{\"ready\":true,\"ports\":%d,\"threads\":%d}\n", nports, threads);
  fflush(stdout);

  /* Wait for the harness's go (it takes the ports out of the bridge first). */
  char line[64];
  if (fgets(line, sizeof line, stdin) == NULL) return 0;

  /* The threads inherit SCHED_FIFO; each gets its own random stream from the seed. */
  nworkers = threads;
  for (int i = 0; i < nworkers; i++) {
    struct worker *w = &workers[i];
    w->index = i;
    w->cpu = (int)(i % (cpus < 1 ? 1 : cpus));
    w->rng = (seed + 0x9e3779b97f4a7c15ULL * (uint64_t)i) | 1ULL;
    if (pthread_create(&w->thread, NULL, forward, w) != 0) {
      fprintf(stderr, "cannot start forwarding thread %d\n", i);
      return 1;
    }
  }
  /* Until stdin ends (the harness is done) or a signal. */
  while (!stopping) {
    ssize_t n = read(0, line, sizeof line);
    if (n == 0 || (n < 0 && errno != EINTR)) break;
  }
  stopping = 1;
  for (int i = 0; i < nworkers; i++) pthread_join(workers[i].thread, NULL);
  print_counters("final");
  return 0;
}
