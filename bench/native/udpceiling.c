/*
 * The machine's loopback UDP ceiling, as the physical reference of the
 * forwarding benchmark: one thread sends 1100-byte datagrams with sendmmsg
 * to 127.0.0.1 as fast as it can, another receives them with recvmmsg, for
 * the given number of seconds. Prints one JSON line with packets/s sent and
 * received (received is the ceiling a forwarder on this machine could reach
 * with one sending and one receiving socket).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define SIZE 1100
static volatile int running = 1;
static uint64_t sent, received;
static struct sockaddr_in target;

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

static void *sender(void *arg) {
  (void)arg;
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  static char buf[SIZE];
  memset(buf, 0x80, sizeof buf);
  struct mmsghdr msgs[BATCH];
  struct iovec iov = { .iov_base = buf, .iov_len = SIZE };
  for (int i = 0; i < BATCH; i++) {
    memset(&msgs[i], 0, sizeof msgs[i]);
    msgs[i].msg_hdr.msg_iov = &iov;
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &target;
    msgs[i].msg_hdr.msg_namelen = sizeof target;
  }
  while (running) {
    int n = sendmmsg(fd, msgs, BATCH, 0);
    if (n > 0) sent += (uint64_t)n;
  }
  close(fd);
  return NULL;
}

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 3.0;
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int size = 64 * 1024 * 1024;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  struct timeval tv = { .tv_sec = 0, .tv_usec = 100000 };
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  target.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &target.sin_addr);
  if (bind(fd, (struct sockaddr *)&target, sizeof target) != 0) { perror("bind"); return 1; }
  socklen_t len = sizeof target;
  getsockname(fd, (struct sockaddr *)&target, &len);

  static char bufs[BATCH][SIZE + 64];
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = bufs[i];
    iov[i].iov_len = sizeof bufs[i];
    memset(&msgs[i], 0, sizeof msgs[i]);
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  pthread_t t;
  pthread_create(&t, NULL, sender, NULL);
  /* Half a second to reach steady state, then measure. */
  double start = now(), measureFrom = start + 0.5, end = measureFrom + seconds;
  uint64_t sentAtStart = 0, receivedAtStart = 0;
  int measuring = 0;
  for (;;) {
    double n0 = now();
    if (!measuring && n0 >= measureFrom) { measuring = 1; sentAtStart = sent; receivedAtStart = received; }
    if (n0 >= end) break;
    int n = recvmmsg(fd, msgs, BATCH, 0, NULL);
    if (n > 0) received += (uint64_t)n;
  }
  uint64_t s = sent - sentAtStart, r = received - receivedAtStart;
  running = 0;
  pthread_join(t, NULL);
  printf("{\"seconds\":%.3f,\"sentPps\":%.0f,\"receivedPps\":%.0f,\"datagramBytes\":%d}\n", seconds, s / seconds, r / seconds, SIZE);
  return 0;
}
