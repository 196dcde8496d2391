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
 *     apart. Prints "sent N". Exit 0, or 3 on error.
 *
 * Needs CAP_NET_RAW. Errors go to stderr with the failing call.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/if_ether.h>
#include <netpacket/packet.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SEEN 16

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

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
};

static int open_iface(const char *name, struct iface *out) {
    if (strlen(name) >= IFNAMSIZ) {
        errno = ENAMETOOLONG;
        return fail("interface name");
    }
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
    if (sendto(ifc->fd, &arp, sizeof arp, 0, (struct sockaddr *)&to, sizeof to) < 0) return fail("sendto");
    return 0;
}

static void format_mac(const uint8_t mac[6], char out[18]) {
    snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

/* Prints each (kind, MAC) once. */
static void report(const char *kind, const uint8_t mac[6], char seen[][24], int *count) {
    char line[24];
    char text[18];
    format_mac(mac, text);
    snprintf(line, sizeof line, "%c%s", kind[4], text);
    for (int i = 0; i < *count; i++)
        if (strcmp(seen[i], line) == 0) return;
    if (*count < MAX_SEEN) strcpy(seen[(*count)++], line);
    printf("%s %s\n", kind, text);
    fflush(stdout);
}

static int probe(const struct iface *ifc, const uint8_t ip[4], int window_ms) {
    const uint8_t zero[4] = {0, 0, 0, 0};
    /* One probe every 10 ms or so, at least two, the last near the end of the window, so a
     * host that claims the address while we listen still answers one of them. */
    int probes = window_ms / 10;
    if (probes < 2) probes = 2;
    if (probes > 20) probes = 20;
    int64_t start = now_ms();
    int64_t end = start + window_ms;
    int sent = 0;
    int taken = 0, contended = 0;
    char seen[MAX_SEEN][24];
    int seen_count = 0;
    for (;;) {
        int64_t now = now_ms();
        if (sent < probes && now >= start + (int64_t)sent * window_ms / probes) {
            if (send_arp(ifc, zero, ip) != 0) return 3;
            sent++;
            continue;
        }
        if (now >= end && sent >= probes) break;
        int64_t next = sent < probes ? start + (int64_t)sent * window_ms / probes : end;
        int wait = (int)((next < end ? next : end) - now);
        struct pollfd pfd = {ifc->fd, POLLIN, 0};
        int ready = poll(&pfd, 1, wait > 0 ? wait : 0);
        if (ready < 0) {
            if (errno == EINTR) continue;
            return fail("poll");
        }
        if (ready == 0) continue;
        struct arp_ipv4 arp;
        struct sockaddr_ll from;
        socklen_t from_len = sizeof from;
        ssize_t n = recvfrom(ifc->fd, &arp, sizeof arp, 0, (struct sockaddr *)&from, &from_len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail("recvfrom");
        }
        /* Ignore what is not an Ethernet/IPv4 ARP packet, and our own frames. */
        if ((size_t)n < sizeof arp || ntohs(arp.htype) != ARPHRD_ETHER || ntohs(arp.ptype) != ETH_P_IP || arp.hlen != 6 || arp.plen != 4) continue;
        if (from.sll_pkttype == PACKET_OUTGOING || memcmp(arp.sha, ifc->mac, 6) == 0) continue;
        if (memcmp(arp.spa, ip, 4) == 0) {
            taken = 1;
            report("arp-reply", arp.sha, seen, &seen_count);
        } else if (ntohs(arp.op) == ARPOP_REQUEST && memcmp(arp.spa, zero, 4) == 0 && memcmp(arp.tpa, ip, 4) == 0) {
            contended = 1;
            report("arp-probe", arp.sha, seen, &seen_count);
        }
    }
    return taken ? 1 : contended ? 2 : 0;
}

static int announce(const struct iface *ifc, const uint8_t ip[4], int count, int interval_ms) {
    for (int i = 0; i < count; i++) {
        if (i > 0) sleep_ms(interval_ms);
        if (send_arp(ifc, ip, ip) != 0) return 3;
    }
    printf("sent %d\n", count);
    return 0;
}

static int number(const char *text, int min, int max, const char *what) {
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "hotspare-arp: %s must be a whole number from %d to %d, got \"%s\"\n", what, min, max, text);
        exit(3);
    }
    return (int)v;
}

int main(int argc, char **argv) {
    int is_probe = argc == 5 && strcmp(argv[1], "probe") == 0;
    int is_announce = argc == 6 && strcmp(argv[1], "announce") == 0;
    if (!is_probe && !is_announce) {
        fprintf(stderr, "usage: hotspare-arp probe IFACE IPV4 WINDOW_MS\n       hotspare-arp announce IFACE IPV4 COUNT INTERVAL_MS\n");
        return 3;
    }
    uint8_t ip[4];
    if (inet_pton(AF_INET, argv[3], ip) != 1) {
        fprintf(stderr, "hotspare-arp: not an IPv4 address: \"%s\"\n", argv[3]);
        return 3;
    }
    struct iface ifc;
    if (open_iface(argv[2], &ifc) != 0) return 3;
    if (is_probe) return probe(&ifc, ip, number(argv[4], 1, 600000, "WINDOW_MS"));
    return announce(&ifc, ip, number(argv[4], 0, 1000, "COUNT"), number(argv[5], 0, 600000, "INTERVAL_MS"));
}
