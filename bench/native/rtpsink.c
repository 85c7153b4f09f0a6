/*
 * UDP sink for the forwarding benchmark: receives RTP (or SRTP: the header
 * is in the clear) on one loopback port and counts, per SSRC, packets and
 * sequence gaps. recvmmsg keeps the sink far from being the bottleneck.
 *
 *   rtpsink <port> [dump]   prints "READY <port>" once listening; with `dump`,
 *                           also appends every RTP packet to that file, each
 *                           after its length (2 bytes, big-endian)
 *   stdin "s\n"             prints one JSON line: {"packets":…,"lost":…,"bytes":…,"ssrcs":…}
 *                           (totals since start; the caller takes differences)
 *   stdin closed            exits
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 256
#define SLOTS 65536
#define PKT 2048

struct stream { uint32_t ssrc; int used; uint16_t last; uint64_t packets; };
static struct stream table[SLOTS];
static uint64_t packets, lost, bytes, ssrcs;

static struct stream *lookup(uint32_t ssrc) {
  uint32_t h = (ssrc * 2654435761u) & (SLOTS - 1);
  for (;;) {
    if (!table[h].used) { table[h].used = 1; table[h].ssrc = ssrc; ssrcs++; return &table[h]; }
    if (table[h].ssrc == ssrc) return &table[h];
    h = (h + 1) & (SLOTS - 1);
  }
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: rtpsink <port> [dump]\n"); return 2; }
  FILE *dump = argc > 2 ? fopen(argv[2], "wb") : NULL;
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int size = 64 * 1024 * 1024;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])) };
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) { perror("bind"); return 1; }
  socklen_t len = sizeof addr;
  getsockname(fd, (struct sockaddr *)&addr, &len);
  printf("READY %d\n", ntohs(addr.sin_port));
  fflush(stdout);

  static char bufs[BATCH][PKT];
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = bufs[i];
    iov[i].iov_len = PKT;
    memset(&msgs[i], 0, sizeof msgs[i]);
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  struct pollfd fds[2] = { { .fd = fd, .events = POLLIN }, { .fd = 0, .events = POLLIN } };
  char line[64];
  for (;;) {
    if (poll(fds, 2, 1000) < 0) { if (errno == EINTR) continue; break; }
    if (fds[0].revents & POLLIN) {
      int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
      for (int i = 0; i < n; i++) {
        unsigned char *p = (unsigned char *)bufs[i];
        unsigned int l = msgs[i].msg_len;
        if (l < 12 || (p[0] >> 6) != 2) continue;
        /* RTCP (payload types 200-206 with the marker bit) is not counted. */
        if (p[1] >= 200 && p[1] <= 206) continue;
        uint16_t seq = (uint16_t)((p[2] << 8) | p[3]);
        uint32_t ssrc = ((uint32_t)p[8] << 24) | ((uint32_t)p[9] << 16) | ((uint32_t)p[10] << 8) | p[11];
        /* mediasoup's bandwidth probation packets (padding only, SSRC 1234) are not media. */
        if (ssrc == 1234) continue;
        struct stream *s = lookup(ssrc);
        if (s->packets > 0) {
          uint16_t gap = (uint16_t)(seq - s->last);
          /* A jump forward counts the missing packets; a late or repeated one is ignored. */
          if (gap >= 1 && gap < 32768) { lost += gap - 1; s->last = seq; }
        } else {
          s->last = seq;
        }
        s->packets++;
        packets++;
        bytes += l;
        if (dump) {
          unsigned char len[2] = { (unsigned char)(l >> 8), (unsigned char)(l & 0xff) };
          fwrite(len, 1, 2, dump);
          fwrite(p, 1, l, dump);
        }
      }
    }
    if (fds[1].revents & (POLLIN | POLLHUP)) {
      if (!fgets(line, sizeof line, stdin)) break;
      if (dump) fflush(dump);
      printf("{\"packets\":%llu,\"lost\":%llu,\"bytes\":%llu,\"ssrcs\":%llu}\n",
             (unsigned long long)packets, (unsigned long long)lost, (unsigned long long)bytes, (unsigned long long)ssrcs);
      fflush(stdout);
    }
  }
  return 0;
}
