/* The machine's ceiling in C (issue 6): the same answers as bench/ceiling.mjs from one epoll
 * thread, to tell what any server could reach on this machine with popload as the client.
 * Not a POP3 server: it answers popload's scripts from memory and nothing else.
 *   gcc -O2 -o bench/work/ceiling-epoll bench/ceiling-epoll.c   (bench/setup.sh does it)
 *   bench/work/ceiling-epoll PORT [MAILDIR]
 * Loopback only; a command line longer than the buffer closes the connection. */
#define _GNU_SOURCE /* accept4 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

struct msg { char *data; size_t len; };
static struct msg *msgs;
static int nmsgs;
static char uidl[2048], stat_line[64];

static int by_name(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }

/* Message file -> "+OK n octets" CRLF, CRLF text, dot-stuffed, ".\r\n". */
static void load(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return;
    size_t cap = 4096, len = 0, octets = 0;
    char *buf = malloc(cap);
    int c, bol = 1, last = '\n';
    len = (size_t)snprintf(buf, cap, "+OK %-20s\r\n", "");  /* size filled in below */
    size_t head = len;
    while ((c = fgetc(f)) != EOF) {
        if (len + 4 > cap) buf = realloc(buf, cap *= 2);
        if (c == '\n' && last != '\r') { buf[len++] = '\r'; octets++; }
        if (bol && c == '.') buf[len++] = '.';
        buf[len++] = (char)c; octets++;
        bol = c == '\n';
        last = c;
    }
    fclose(f);
    if (len + 8 > cap) buf = realloc(buf, cap += 8);
    if (!bol) { memcpy(buf + len, "\r\n", 2); len += 2; }
    memcpy(buf + len, ".\r\n", 3); len += 3;
    char sz[32];
    int n = snprintf(sz, sizeof sz, "+OK %zu octets\r\n", octets);
    size_t shift = head - (size_t)n;                        /* right-align the status line */
    memcpy(buf + shift, sz, (size_t)n);
    msgs = realloc(msgs, (size_t)(nmsgs + 1) * sizeof *msgs);
    msgs[nmsgs].data = malloc(len - shift);
    memcpy(msgs[nmsgs].data, buf + shift, len - shift);
    msgs[nmsgs].len = len - shift;
    nmsgs++;
    free(buf);
}

static void load_maildir(const char *dir) {
    const char *subs[] = {"cur", "new"};
    for (int s = 0; s < 2; s++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, subs[s]);
        DIR *d = opendir(path);
        if (!d) continue;
        char **names = NULL;
        int n = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            names = realloc(names, (size_t)(n + 1) * sizeof *names);
            names[n++] = strdup(e->d_name);
        }
        closedir(d);
        qsort(names, (size_t)n, sizeof *names, by_name);
        for (int i = 0; i < n; i++) {
            snprintf(path, sizeof path, "%s/%s/%s", dir, subs[s], names[i]);
            load(path);
            free(names[i]);
        }
        free(names);
    }
}

struct conn { int fd; size_t have; char in[1024]; };

static void send_all(int fd, const char *p, size_t n) {
    /* Answers are small next to the socket buffer; a short write ends the benchmark's interest. */
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) { if (w < 0 && errno == EAGAIN) continue; return; }
        p += w; n -= (size_t)w;
    }
}

/* Returns 0 when the connection is to be closed. */
static int answer(struct conn *c, const char *line) {
    if (!strncasecmp(line, "USER", 4) || !strncasecmp(line, "PASS", 4)) send_all(c->fd, "+OK\r\n", 5);
    else if (!strncasecmp(line, "STAT", 4)) send_all(c->fd, stat_line, strlen(stat_line));
    else if (!strncasecmp(line, "UIDL", 4)) send_all(c->fd, uidl, strlen(uidl));
    else if (!strncasecmp(line, "RETR ", 5)) {
        long i = strtol(line + 5, NULL, 10);
        if (i >= 1 && i <= nmsgs) send_all(c->fd, msgs[i - 1].data, msgs[i - 1].len);
        else send_all(c->fd, "-ERR\r\n", 6);
    } else if (!strncasecmp(line, "QUIT", 4)) { send_all(c->fd, "+OK bye\r\n", 9); return 0; }
    else send_all(c->fd, "-ERR\r\n", 6);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: ceiling-epoll PORT [MAILDIR]\n"); return 2; }
    if (argc > 2) load_maildir(argv[2]);
    size_t octets = 0;
    for (int i = 0; i < nmsgs; i++) octets += msgs[i].len;
    if (nmsgs) snprintf(stat_line, sizeof stat_line, "+OK %d %zu\r\n", nmsgs, octets);
    else snprintf(stat_line, sizeof stat_line, "+OK 14 16709\r\n");
    size_t u = (size_t)snprintf(uidl, sizeof uidl, "+OK\r\n");
    for (int i = 0; i < 14; i++) u += (size_t)snprintf(uidl + u, sizeof uidl - u, "%d 1700000000.M%dP1.host\r\n", i + 1, i);
    snprintf(uidl + u, sizeof uidl - u, ".\r\n");

    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 1024)) { perror("listen"); return 1; }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    printf("ceiling-epoll on 127.0.0.1:%s, %d messages in memory\n", argv[1], nmsgs);
    fflush(stdout);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int k = 0; k < n; k++) {
            if (evs[k].data.ptr == NULL) {
                int fd;
                while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct conn *c = calloc(1, sizeof *c);
                    c->fd = fd;
                    struct epoll_event ce = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ce);
                    send_all(fd, "+OK ready\r\n", 11);
                }
                continue;
            }
            struct conn *c = evs[k].data.ptr;
            ssize_t r = recv(c->fd, c->in + c->have, sizeof c->in - c->have - 1, 0);
            int keep = r > 0;
            if (keep) {
                c->have += (size_t)r;
                c->in[c->have] = 0;
                char *start = c->in, *eol;
                while (keep && (eol = strstr(start, "\r\n"))) {
                    *eol = 0;
                    keep = answer(c, start);
                    start = eol + 2;
                }
                c->have -= (size_t)(start - c->in);
                memmove(c->in, start, c->have);
                if (c->have >= sizeof c->in - 1) keep = 0;
            } else if (r < 0 && errno == EAGAIN) keep = 1;
            if (!keep) { close(c->fd); free(c); }
        }
    }
}
