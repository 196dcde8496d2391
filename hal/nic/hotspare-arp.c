/*
 * hotspare-arp: ARP address probing (RFC 5227) and gratuitous ARP on one interface,
 * through a packet socket. iputils arping cannot see another host probing for the same
 * address at the same time, and takes whole seconds for its intervals; this can and does not.
 *
 *   hotspare-arp probe IFACE IPV4 WINDOW_MS
 *     Sends ARP probes (sender IP 0.0.0.0) spread over the window and listens for the
 *     whole window. Prints one line per observation:
 *       arp-reply MAC   a host uses the address (any ARP whose sender IP is the address)
 *       arp-probe MAC   another host probes for the address right now
 *     Exit 0: free. 1: taken (someone uses it). 2: contended (only probes seen). 3: error.
 *
 *   hotspare-arp announce IFACE IPV4 COUNT INTERVAL_MS
 *     Sends COUNT gratuitous ARP requests (sender IP = target IP = the address), INTERVAL_MS
 *     apart, each only while the interface holds the address (read just before it goes out:
 *     a gratuitous ARP for an address this host no longer holds would draw its traffic here).
 *     Prints "sent N". Exit 0, or 3 on error (also "address not held" before a send).
 *
 *   hotspare-arp serve IFACE
 *     Long-lived: opens the packet socket, prints "ready", then reads one command per line on
 *     stdin and prints one result line per command on stdout, prefixed with the command's ID
 *     (1-32 of A-Z a-z 0-9 . _ -). Commands run at the same time, in one poll() loop:
 *       ID probe IPV4 WINDOW_MS                -> ID silent | ID arp-reply MAC [arp-probe MAC]...
 *       ID announce IPV4 COUNT INTERVAL_MS     -> ID done  (the first one is sent at once;
 *                                                 each while the address is held, else
 *                                                 ID error announce: address not held)
 *       ID watch IPV4 INTERVAL_MS LIMIT_MS     -> ID seen KIND MAC, one line per packet as it
 *                                                 arrives; ID ended at LIMIT_MS or at `ID end`
 *       ID end                                 -> ends the watch ID (its "ID ended" answers it)
 *     as the one-shot modes, each observation (kind MAC) once, in the order seen. A watch
 *     sends a probe at once and every INTERVAL_MS, and reports each observation at once, so
 *     its reader knows when each was heard (the [0013] silence check that runs through a
 *     fence: README "Takeover"). A bad line
 *     or a failed send is answered "ID error MESSAGE" ("? error ..." when there is no valid
 *     ID), and serving goes on. Exits 0 at the end of stdin, 3 when it cannot start.
 *
 * Needs CAP_NET_RAW. Errors go to stderr with the failing call.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/if_ether.h>
#include <netpacket/packet.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SEEN 16
#define MAX_REQUESTS 64
#define MAX_LINE 255
#define MAX_ID 32

struct arp_ipv4 {
    uint16_t htype, ptype;
    uint8_t hlen, plen;
    uint16_t op;
    uint8_t sha[6], spa[4], tha[6], tpa[4];
} __attribute__((packed));

static int fail(const char *what) {
    fprintf(stderr, "hotspare-arp: %s: %s\n", what, strerror(errno));
    return 3;
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct timespec timespec_of(int64_t ns) {
    if (ns < 0) ns = 0;
    struct timespec ts = {ns / 1000000000, ns % 1000000000};
    return ts;
}

static void sleep_ms(int64_t ms) {
    if (ms <= 0) return;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {}
}

struct iface {
    int fd;
    int index;
    uint8_t mac[6];
    char name[IFNAMSIZ];
};

static int open_iface(const char *name, struct iface *out) {
    if (strlen(name) >= IFNAMSIZ) {
        errno = ENAMETOOLONG;
        return fail("interface name");
    }
    strcpy(out->name, name);
    out->fd = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_ARP));
    if (out->fd < 0) return fail("socket(AF_PACKET) (needs root or CAP_NET_RAW)");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(out->fd, SIOCGIFINDEX, &ifr) < 0) return fail("SIOCGIFINDEX (no such interface?)");
    out->index = ifr.ifr_ifindex;
    if (ioctl(out->fd, SIOCGIFHWADDR, &ifr) < 0) return fail("SIOCGIFHWADDR");
    memcpy(out->mac, ifr.ifr_hwaddr.sa_data, 6);
    struct sockaddr_ll bind_to;
    memset(&bind_to, 0, sizeof bind_to);
    bind_to.sll_family = AF_PACKET;
    bind_to.sll_protocol = htons(ETH_P_ARP);
    bind_to.sll_ifindex = out->index;
    if (bind(out->fd, (struct sockaddr *)&bind_to, sizeof bind_to) < 0) return fail("bind");
    return 0;
}

/* 1 when the interface holds IPv4 address `ip` now, 0 when not, -1 (errno) when the kernel
 * could not be asked. One netlink dump (getifaddrs) in this process, made before every
 * gratuitous ARP: the agent's own check, made where the packet leaves instead of one `ip`
 * round trip earlier. */
static int holds_address(const struct iface *ifc, const uint8_t ip[4]) {
    struct ifaddrs *all;
    if (getifaddrs(&all) != 0) return -1;
    int held = 0;
    for (struct ifaddrs *a = all; a != NULL && !held; a = a->ifa_next) {
        if (a->ifa_addr == NULL || a->ifa_addr->sa_family != AF_INET || strcmp(a->ifa_name, ifc->name) != 0) continue;
        held = memcmp(&((const struct sockaddr_in *)a->ifa_addr)->sin_addr, ip, 4) == 0;
    }
    freeifaddrs(all);
    return held;
}

/* Sends one ARP request (sender IP spa, target IP tpa) to the broadcast address; -1 and errno
 * on failure. */
static int send_arp(const struct iface *ifc, const uint8_t spa[4], const uint8_t tpa[4]) {
    struct arp_ipv4 arp;
    memset(&arp, 0, sizeof arp);
    arp.htype = htons(ARPHRD_ETHER);
    arp.ptype = htons(ETH_P_IP);
    arp.hlen = 6;
    arp.plen = 4;
    arp.op = htons(ARPOP_REQUEST);
    memcpy(arp.sha, ifc->mac, 6);
    memcpy(arp.spa, spa, 4);
    memcpy(arp.tpa, tpa, 4);
    struct sockaddr_ll to;
    memset(&to, 0, sizeof to);
    to.sll_family = AF_PACKET;
    to.sll_protocol = htons(ETH_P_ARP);
    to.sll_ifindex = ifc->index;
    to.sll_halen = 6;
    memset(to.sll_addr, 0xff, 6);
    return sendto(ifc->fd, &arp, sizeof arp, 0, (struct sockaddr *)&to, sizeof to) < 0 ? -1 : 0;
}

static void format_mac(const uint8_t mac[6], char out[18]) {
    snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

enum observation { SEEN_NOTHING, SEEN_REPLY, SEEN_PROBE };
static const char *const OBSERVATION_NAMES[] = {"nothing", "arp-reply", "arp-probe"};

/* What one received packet says about `ip`. Not an Ethernet/IPv4 ARP packet, or our own frame:
 * nothing. Any ARP whose sender IP is the address: a host uses it. A request from 0.0.0.0 for
 * it: another host probes for it right now (RFC 5227). */
static enum observation classify(const struct iface *ifc, const struct arp_ipv4 *arp, ssize_t n, const struct sockaddr_ll *from, const uint8_t ip[4]) {
    static const uint8_t zero[4] = {0, 0, 0, 0};
    if ((size_t)n < sizeof *arp || ntohs(arp->htype) != ARPHRD_ETHER || ntohs(arp->ptype) != ETH_P_IP || arp->hlen != 6 || arp->plen != 4) return SEEN_NOTHING;
    if (from->sll_pkttype == PACKET_OUTGOING || memcmp(arp->sha, ifc->mac, 6) == 0) return SEEN_NOTHING;
    if (memcmp(arp->spa, ip, 4) == 0) return SEEN_REPLY;
    if (ntohs(arp->op) == ARPOP_REQUEST && memcmp(arp->spa, zero, 4) == 0 && memcmp(arp->tpa, ip, 4) == 0) return SEEN_PROBE;
    return SEEN_NOTHING;
}

/* One probe or announcement in progress: its packets go out at fixed offsets from `start`. */
enum kind { PROBE, ANNOUNCE, WATCH };
struct request {
    int used;
    enum kind kind;
    char id[MAX_ID + 1];
    uint8_t ip[4];
    int64_t start, span; /* ns; span: the probe window, or the interval between announcements or a watch's probes */
    int total, sent;
    int seen;
    enum observation seen_kind[MAX_SEEN];
    uint8_t seen_mac[MAX_SEEN][6];
};

static void start_request(struct request *r, enum kind kind, const uint8_t ip[4], int count, int64_t span_ns, int64_t now) {
    memset(r, 0, sizeof *r);
    r->used = 1;
    r->kind = kind;
    memcpy(r->ip, ip, 4);
    r->start = now;
    r->span = span_ns;
    r->total = count;
}

/* Probes: one every 10 ms or so, at least two, the last near the end of the window, so a host
 * that claims the address while we listen still answers one of them. */
static int probe_count(int window_ms) {
    int probes = window_ms / 10;
    return probes < 2 ? 2 : probes > 20 ? 20 : probes;
}

static int64_t send_time(const struct request *r) {
    return r->kind == PROBE ? r->start + (int64_t)r->sent * r->span / r->total : r->start + (int64_t)r->sent * r->span;
}

/* When this request next needs attention: its next packet, else the end of a probe's window
 * or of a watch's limit (one interval after its last probe). */
static int64_t deadline(const struct request *r) {
    if (r->sent < r->total) return send_time(r);
    return r->kind == PROBE ? r->start + r->span : r->kind == WATCH ? r->start + (int64_t)r->total * r->span : r->start;
}

/* Sends what is due at `now`. 1: complete, 0: not yet, -1: a send failed (errno), -2: an
 * announcement's address is not held (any more), -3: that could not be read (errno). */
static int advance(const struct iface *ifc, struct request *r, int64_t now) {
    static const uint8_t zero[4] = {0, 0, 0, 0};
    while (r->sent < r->total && now >= send_time(r)) {
        if (r->kind == ANNOUNCE) {
            int held = holds_address(ifc, r->ip);
            if (held <= 0) return held == 0 ? -2 : -3;
        }
        /* A probe's (and a watch's) sender IP is 0.0.0.0; an announcement's is the address itself. */
        if (send_arp(ifc, r->kind == ANNOUNCE ? r->ip : zero, r->ip) != 0) return -1;
        r->sent++;
    }
    return r->sent >= r->total && now >= deadline(r);
}

/* Records an observation once; 1 when it is new. When the list is full, a first arp-reply
 * still takes the last place: "someone uses it" must never be lost to "someone probes". */
static int observe(struct request *r, enum observation kind, const uint8_t mac[6]) {
    int replies = 0;
    for (int i = 0; i < r->seen; i++) {
        if (r->seen_kind[i] == kind && memcmp(r->seen_mac[i], mac, 6) == 0) return 0;
        replies += r->seen_kind[i] == SEEN_REPLY;
    }
    int at = r->seen;
    if (at == MAX_SEEN) {
        if (kind != SEEN_REPLY || replies > 0) return 0;
        at = MAX_SEEN - 1;
    } else {
        r->seen++;
    }
    r->seen_kind[at] = kind;
    memcpy(r->seen_mac[at], mac, 6);
    return 1;
}

/* Exit status of a finished probe: 1 taken, 2 contended (only probes seen), 0 free. */
static int probe_status(const struct request *r) {
    int contended = 0;
    for (int i = 0; i < r->seen; i++) {
        if (r->seen_kind[i] == SEEN_REPLY) return 1;
        contended = 1;
    }
    return contended ? 2 : 0;
}

static ssize_t receive(const struct iface *ifc, struct arp_ipv4 *arp, struct sockaddr_ll *from, int flags) {
    socklen_t from_len = sizeof *from;
    return recvfrom(ifc->fd, arp, sizeof *arp, flags, (struct sockaddr *)from, &from_len);
}

/* One-shot probe: prints each observation when first seen; returns the exit status. */
static int probe(const struct iface *ifc, const uint8_t ip[4], int window_ms) {
    struct request r;
    start_request(&r, PROBE, ip, probe_count(window_ms), (int64_t)window_ms * 1000000, now_ns());
    for (;;) {
        int64_t now = now_ns();
        int state = advance(ifc, &r, now);
        if (state < 0) return fail("sendto");
        if (state > 0) break;
        struct pollfd pfd = {ifc->fd, POLLIN, 0};
        struct timespec wait = timespec_of(deadline(&r) - now);
        int ready = ppoll(&pfd, 1, &wait, NULL);
        if (ready < 0) {
            if (errno == EINTR) continue;
            return fail("poll");
        }
        if (ready == 0) continue;
        struct arp_ipv4 arp;
        struct sockaddr_ll from;
        ssize_t n = receive(ifc, &arp, &from, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail("recvfrom");
        }
        enum observation kind = classify(ifc, &arp, n, &from, ip);
        if (kind != SEEN_NOTHING && observe(&r, kind, arp.sha)) {
            char text[18];
            format_mac(arp.sha, text);
            printf("%s %s\n", OBSERVATION_NAMES[kind], text);
            fflush(stdout);
        }
    }
    return probe_status(&r);
}

static int announce(const struct iface *ifc, const uint8_t ip[4], int count, int interval_ms) {
    for (int i = 0; i < count; i++) {
        if (i > 0) sleep_ms(interval_ms);
        int held = holds_address(ifc, ip);
        if (held < 0) return fail("getifaddrs");
        if (held == 0) {
            fprintf(stderr, "hotspare-arp: address not held (sent %d)\n", i);
            return 3;
        }
        if (send_arp(ifc, ip, ip) != 0) return fail("sendto");
    }
    printf("sent %d\n", count);
    return 0;
}

/* A whole number from min to max; -1 when `text` is not one. */
static int parse_number(const char *text, int min, int max, int *out) {
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max) return -1;
    *out = (int)v;
    return 0;
}

static int number(const char *text, int min, int max, const char *what) {
    int v;
    if (parse_number(text, min, max, &v) != 0) {
        fprintf(stderr, "hotspare-arp: %s must be a whole number from %d to %d, got \"%s\"\n", what, min, max, text);
        exit(3);
    }
    return v;
}

/* --- serve mode ------------------------------------------------------------------------- */

struct server {
    const struct iface *ifc;
    struct request requests[MAX_REQUESTS];
    char line[MAX_LINE + 1];
    size_t length;
    int overlong, has_nul;
};

static void write_all(const char *text, size_t length) {
    while (length > 0) {
        ssize_t n = write(STDOUT_FILENO, text, length);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            /* Nobody reads our answers any more. */
            fail("write(stdout)");
            exit(3);
        }
        text += n;
        length -= (size_t)n;
    }
}

/* Writes "ID " + the formatted text + newline, as one write. */
static void reply(const char *id, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void reply(const char *id, const char *format, ...) {
    char text[1024];
    int n = snprintf(text, sizeof text - 1, "%s ", id);
    va_list args;
    va_start(args, format);
    int more = vsnprintf(text + n, sizeof text - 1 - (size_t)n, format, args);
    va_end(args);
    n = more < 0 ? n : n + more > (int)sizeof text - 2 ? (int)sizeof text - 2 : n + more;
    text[n++] = '\n';
    write_all(text, (size_t)n);
}

/* Up to 40 characters of untrusted input, fit to be quoted in one answer line. */
static const char *shown(const char *text, char out[48]) {
    size_t i = 0;
    for (; text[i] != '\0' && i < 40; i++) out[i] = text[i] > ' ' && text[i] < 127 ? text[i] : '?';
    strcpy(out + i, text[i] == '\0' ? "" : "...");
    return out;
}

static int valid_id(const char *id) {
    size_t length = strlen(id);
    if (length == 0 || length > MAX_ID) return 0;
    return strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == length;
}

static void finish(struct request *r) {
    if (r->kind == WATCH) {
        reply(r->id, "ended");
    } else if (r->kind == ANNOUNCE) {
        reply(r->id, "done");
    } else if (r->seen == 0) {
        reply(r->id, "silent");
    } else {
        char text[MAX_SEEN * 28 + 1];
        size_t at = 0;
        for (int i = 0; i < r->seen; i++) {
            char mac[18];
            format_mac(r->seen_mac[i], mac);
            at += (size_t)snprintf(text + at, sizeof text - at, "%s%s %s", i > 0 ? " " : "", OBSERVATION_NAMES[r->seen_kind[i]], mac);
        }
        reply(r->id, "%s", text);
    }
    r->used = 0;
}

/* Parses one command line and starts its request, or answers its error. */
static void command(struct server *s, char *line) {
    char buffer[48];
    char *save = NULL;
    char *id = strtok_r(line, " \t", &save);
    if (id == NULL) return; /* a blank line is no command */
    if (!valid_id(id)) {
        reply("?", "error invalid ID \"%s\" (1 to %d of A-Z a-z 0-9 . _ -)", shown(id, buffer), MAX_ID);
        return;
    }
    char *name = strtok_r(NULL, " \t", &save);
    char *args[4];
    int count = 0;
    while (count < 4 && (args[count] = strtok_r(NULL, " \t", &save)) != NULL) count++;
    if (name == NULL) {
        reply(id, "error missing command (probe, announce, watch or end)");
        return;
    }
    if (strcmp(name, "end") == 0) {
        for (int i = 0; i < MAX_REQUESTS; i++) {
            struct request *r = &s->requests[i];
            if (r->used && r->kind == WATCH && strcmp(r->id, id) == 0) {
                finish(r);
                return;
            }
        }
        reply(id, "error end: no watch %s in flight", id);
        return;
    }
    enum kind kind;
    if (strcmp(name, "probe") == 0 && count == 2) {
        kind = PROBE;
    } else if (strcmp(name, "announce") == 0 && count == 3) {
        kind = ANNOUNCE;
    } else if (strcmp(name, "watch") == 0 && count == 3) {
        kind = WATCH;
    } else if (strcmp(name, "watch") == 0) {
        reply(id, "error watch: usage: ID watch IPV4 INTERVAL_MS LIMIT_MS");
        return;
    } else if (strcmp(name, "probe") == 0) {
        reply(id, "error probe: usage: ID probe IPV4 WINDOW_MS");
        return;
    } else if (strcmp(name, "announce") == 0) {
        reply(id, "error announce: usage: ID announce IPV4 COUNT INTERVAL_MS");
        return;
    } else {
        reply(id, "error unknown command \"%s\" (probe, announce, watch or end)", shown(name, buffer));
        return;
    }
    uint8_t ip[4];
    if (inet_pton(AF_INET, args[0], ip) != 1) {
        reply(id, "error %s: not an IPv4 address: \"%s\"", name, shown(args[0], buffer));
        return;
    }
    int first, second = 0;
    if (kind == PROBE && parse_number(args[1], 1, 600000, &first) != 0) {
        reply(id, "error probe: WINDOW_MS must be a whole number from 1 to 600000, got \"%s\"", shown(args[1], buffer));
        return;
    }
    if (kind == ANNOUNCE && parse_number(args[1], 0, 1000, &first) != 0) {
        reply(id, "error announce: COUNT must be a whole number from 0 to 1000, got \"%s\"", shown(args[1], buffer));
        return;
    }
    if (kind == WATCH && parse_number(args[1], 1, 60000, &first) != 0) {
        reply(id, "error watch: INTERVAL_MS must be a whole number from 1 to 60000, got \"%s\"", shown(args[1], buffer));
        return;
    }
    if (kind == WATCH && (parse_number(args[2], 1, 600000, &second) != 0 || second < first)) {
        reply(id, "error watch: LIMIT_MS must be a whole number from INTERVAL_MS to 600000, got \"%s\"", shown(args[2], buffer));
        return;
    }
    if (kind == ANNOUNCE && parse_number(args[2], 0, 600000, &second) != 0) {
        reply(id, "error announce: INTERVAL_MS must be a whole number from 0 to 600000, got \"%s\"", shown(args[2], buffer));
        return;
    }
    struct request *free_slot = NULL;
    for (int i = 0; i < MAX_REQUESTS; i++) {
        struct request *r = &s->requests[i];
        if (r->used && strcmp(r->id, id) == 0) {
            reply(id, "error %s: ID already in flight", name);
            return;
        }
        if (!r->used && free_slot == NULL) free_slot = r;
    }
    if (free_slot == NULL) {
        reply(id, "error %s: busy, %d requests in flight", name, MAX_REQUESTS);
        return;
    }
    if (kind == PROBE) {
        start_request(free_slot, PROBE, ip, probe_count(first), (int64_t)first * 1000000, now_ns());
    } else if (kind == WATCH) {
        /* A probe at once and every interval up to the limit; it ends an interval after the last. */
        start_request(free_slot, WATCH, ip, second / first, (int64_t)first * 1000000, now_ns());
    } else {
        start_request(free_slot, ANNOUNCE, ip, first, (int64_t)second * 1000000, now_ns());
    }
    strcpy(free_slot->id, id);
}

/* Reads what stdin has; runs each complete line. Lines longer than MAX_LINE are refused whole.
 * Returns 0 at the end of input. */
static int read_commands(struct server *s) {
    char chunk[4096];
    ssize_t n = read(STDIN_FILENO, chunk, sizeof chunk);
    if (n < 0) return errno == EINTR || errno == EAGAIN ? 1 : (fail("read(stdin)"), 0);
    for (ssize_t i = 0; i < n; i++) {
        char c = chunk[i];
        if (c != '\n') {
            if (s->length < MAX_LINE) {
                s->line[s->length++] = c;
            } else {
                s->overlong = 1;
            }
            s->has_nul |= c == '\0';
            continue;
        }
        s->line[s->length] = '\0';
        if (s->overlong || s->has_nul) {
            char *save = NULL;
            char *id = s->has_nul ? NULL : strtok_r(s->line, " \t", &save);
            const char *problem = s->overlong ? "line longer than 255 bytes refused" : "line with a NUL byte refused";
            reply(id != NULL && valid_id(id) ? id : "?", "error %s", problem);
        } else {
            command(s, s->line);
        }
        s->length = 0;
        s->overlong = s->has_nul = 0;
    }
    return n > 0;
}

/* Reads every queued packet and gives it to the probes in flight. A socket error (the
 * interface went down) fails them all: what they heard is incomplete. */
static void receive_all(struct server *s) {
    for (;;) {
        struct arp_ipv4 arp;
        struct sockaddr_ll from;
        ssize_t n = receive(s->ifc, &arp, &from, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        for (int i = 0; i < MAX_REQUESTS; i++) {
            struct request *r = &s->requests[i];
            if (!r->used || r->kind == ANNOUNCE) continue;
            if (n < 0) {
                reply(r->id, "error %s: recvfrom: %s", r->kind == WATCH ? "watch" : "probe", strerror(errno));
                r->used = 0;
                continue;
            }
            enum observation kind = classify(s->ifc, &arp, n, &from, r->ip);
            if (kind == SEEN_NOTHING) continue;
            if (r->kind == WATCH) {
                char text[18];
                format_mac(arp.sha, text);
                reply(r->id, "seen %s %s", OBSERVATION_NAMES[kind], text);
            } else {
                observe(r, kind, arp.sha);
            }
        }
        if (n < 0) return;
    }
}

/* The one loop: send what is due and answer what is complete, wait for the next deadline,
 * a packet or a command, read them. */
static int serve(const struct iface *ifc) {
    static struct server s;
    s.ifc = ifc;
    signal(SIGPIPE, SIG_IGN);
    /* The socket is open and bound: from now on every packet for a probe is heard. */
    write_all("ready\n", 6);
    for (;;) {
        int64_t now = now_ns();
        int64_t next = INT64_MAX;
        for (int i = 0; i < MAX_REQUESTS; i++) {
            struct request *r = &s.requests[i];
            if (!r->used) continue;
            int state = advance(ifc, r, now);
            if (state == -2) {
                reply(r->id, "error announce: address not held (sent %d)", r->sent);
                r->used = 0;
            } else if (state == -3) {
                reply(r->id, "error announce: getifaddrs: %s", strerror(errno));
                r->used = 0;
            } else if (state < 0) {
                reply(r->id, "error %s: sendto: %s", r->kind == PROBE ? "probe" : r->kind == ANNOUNCE ? "announce" : "watch", strerror(errno));
                r->used = 0;
            } else if (state > 0) {
                finish(r);
            } else if (deadline(r) < next) {
                next = deadline(r);
            }
        }
        struct pollfd pfd[2] = {{STDIN_FILENO, POLLIN, 0}, {ifc->fd, POLLIN, 0}};
        struct timespec wait = timespec_of(next - now);
        int ready = ppoll(pfd, 2, next == INT64_MAX ? NULL : &wait, NULL);
        if (ready < 0) {
            if (errno == EINTR) continue;
            return fail("poll");
        }
        if (pfd[1].revents != 0) receive_all(&s);
        if (pfd[0].revents != 0 && !read_commands(&s)) return 0;
    }
}

int main(int argc, char **argv) {
    int is_probe = argc == 5 && strcmp(argv[1], "probe") == 0;
    int is_announce = argc == 6 && strcmp(argv[1], "announce") == 0;
    int is_serve = argc == 3 && strcmp(argv[1], "serve") == 0;
    if (!is_probe && !is_announce && !is_serve) {
        fprintf(stderr, "usage: hotspare-arp probe IFACE IPV4 WINDOW_MS\n       hotspare-arp announce IFACE IPV4 COUNT INTERVAL_MS\n       hotspare-arp serve IFACE\n");
        return 3;
    }
    struct iface ifc;
    if (is_serve) {
        if (open_iface(argv[2], &ifc) != 0) return 3;
        return serve(&ifc);
    }
    uint8_t ip[4];
    if (inet_pton(AF_INET, argv[3], ip) != 1) {
        fprintf(stderr, "hotspare-arp: not an IPv4 address: \"%s\"\n", argv[3]);
        return 3;
    }
    if (open_iface(argv[2], &ifc) != 0) return 3;
    if (is_probe) return probe(&ifc, ip, number(argv[4], 1, 600000, "WINDOW_MS"));
    return announce(&ifc, ip, number(argv[4], 0, 1000, "COUNT"), number(argv[5], 0, 600000, "INTERVAL_MS"));
}
