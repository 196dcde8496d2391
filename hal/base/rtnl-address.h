/*
 * One IPv4 address added to or deleted from an interface through rtnetlink, with the
 * kernel's acknowledgement: the same request as `ip -4 address add|del ADDR/PREFIX dev IFACE`
 * (IFA_LOCAL and IFA_ADDRESS both the address, no broadcast, no label). Shared by the lease
 * enforcer (hal/lease/hotspare-enforcer.c) and the netlink addon (hal/nic/netlink-address.c).
 * Header-only (static inline): each is one translation unit built by `make` with gcc.
 */
#ifndef HOTSPARE_RTNL_ADDRESS_H
#define HOTSPARE_RTNL_ADDRESS_H

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * Sends RTM_NEWADDR (`type`, with `flags` such as NLM_F_CREATE | NLM_F_REPLACE) or
 * RTM_DELADDR for `address`/`prefix` on interface `index` over the rtnetlink socket `fd`,
 * and reads the acknowledgement. Returns 0 when the kernel did it, else a positive errno:
 * the kernel's refusal (EEXIST, EADDRNOTAVAIL, ENODEV, EPERM, ...), a failed send or
 * receive, or EPROTO for an answer that is no acknowledgement of this request.
 */
static inline int hs_rtnl_address(int fd, int type, int flags, unsigned index, struct in_addr address, int prefix,
                                  unsigned seq) {
  struct {
    struct nlmsghdr n;
    struct ifaddrmsg a;
    char attrs[2 * RTA_SPACE(sizeof(struct in_addr))];
  } req;
  memset(&req, 0, sizeof req);
  req.n.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
  req.n.nlmsg_type = (unsigned short)type;
  req.n.nlmsg_flags = (unsigned short)(NLM_F_REQUEST | NLM_F_ACK | flags);
  req.n.nlmsg_seq = seq;
  req.a.ifa_family = AF_INET;
  req.a.ifa_prefixlen = (unsigned char)prefix;
  req.a.ifa_index = index;
  unsigned short types[2] = {IFA_LOCAL, IFA_ADDRESS};
  for (int i = 0; i < 2; i++) {
    struct rtattr *rta = (struct rtattr *)((char *)&req + NLMSG_ALIGN(req.n.nlmsg_len));
    rta->rta_type = types[i];
    rta->rta_len = RTA_LENGTH(sizeof(struct in_addr));
    memcpy(RTA_DATA(rta), &address, sizeof(struct in_addr));
    req.n.nlmsg_len = NLMSG_ALIGN(req.n.nlmsg_len) + RTA_ALIGN(rta->rta_len);
  }
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(fd, &req, req.n.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) return errno;
  /* The kernel answers before sendto returns; an answer to an earlier request (one whose
     reader gave up) is skipped by its sequence number. */
  for (;;) {
    char reply[4096];
    ssize_t got = recv(fd, reply, sizeof reply, MSG_DONTWAIT);
    if (got < 0) return errno == EAGAIN ? EPROTO : errno;
    struct nlmsghdr *h = (struct nlmsghdr *)reply;
    if (got < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)) || h->nlmsg_type != NLMSG_ERROR) return EPROTO;
    if (h->nlmsg_seq != seq) continue;
    int error = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
    return error < 0 ? -error : error;
  }
}

#endif
