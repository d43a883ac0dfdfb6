/*
 * notifier_leak.c - docs/incidents.md 4, "the notifier that waits forever"
 * (websocket signalling server).
 *
 * Every connection starts a notifier thread that loops receiving from a
 * channel and writing each message to the connection's socket. When a
 * connection closes, the handler closes the socket but forgets to close the
 * channel, so the notifier blocks in the receive forever (line LEAK).
 * Connections that end through the orderly path (one in three) close their
 * channel and their notifier exits, which is not a leak.
 *
 * Noise: a stable pool of idle workers, the room directory built once at
 * start, and a handshake buffer per connection, freed after parsing.
 * Usage: notifier_leak [max_leaked]   (default 3000; then it idles)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chan.h"

struct conn {
	int fd;
	struct chan *outbox;
};

static void *notifier(void *arg)
{
	struct conn *c = arg;
	long msg;
	while (chan_recv(c->outbox, &msg) == 1) {  /* LEAK: waits forever once the conn is gone */
		char line[32];
		int n = snprintf(line, sizeof line, "event %ld\n", msg);
		if (send(c->fd, line, (size_t)n, MSG_NOSIGNAL) < 0) {
			/* the peer went away; keep draining, as the original did */
		}
	}
	free(c);
	return NULL;
}

/* The room directory, built once at start. */
#define ROOMS 65536
struct room {
	char name[48];
	long members;
};
static struct room *rooms;

static void build_rooms(void)
{
	rooms = calloc(ROOMS, sizeof *rooms);   /* NOISE: table built once */
	for (int i = 0; i < ROOMS; i++)
		snprintf(rooms[i].name, sizeof rooms[i].name, "room-%d", i);
}

/* Parses the websocket handshake in a scratch buffer, freed at once. */
static long parse_handshake(long id)
{
	char *hs = malloc(32 * 1024);           /* NOISE: per-request scratch */
	int n = snprintf(hs, 32 * 1024, "GET /ws?room=%ld HTTP/1.1\r\nUpgrade: websocket\r\n",
			 id % ROOMS);
	long room = n > 0 ? id % ROOMS : 0;
	free(hs);
	return room;
}

static void handle_connection(long id)
{
	rooms[parse_handshake(id)].members++;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return;
	struct conn *c = malloc(sizeof *c);
	c->fd = sv[0];
	c->outbox = chan_new();
	if (spawn_detached(notifier, c) != 0) {
		close(sv[0]);
		close(sv[1]);
		free(c);
		return;
	}
	chan_send(c->outbox, id);              /* "joined" */
	chan_send(c->outbox, id + 1);          /* "ready" */
	struct chan *outbox = c->outbox;
	if (id % 3 == 0)
		chan_close(outbox);            /* the orderly path */
	/* BUG: on the other paths nothing closes the channel. The sockets
	 * stay open too: the notifier still owns its end. */
	close(sv[1]);
}

int main(int argc, char **argv)
{
	long max_leaked = argc > 1 ? atol(argv[1]) : 3000;
	pool_start(8);
	build_rooms();
	printf("notifier_leak: pid %d\n", (int)getpid());
	fflush(stdout);
	long leaked = 0;
	for (long id = 1;; id++) {
		if (leaked >= max_leaked) {
			sleep(1000);
			continue;
		}
		handle_connection(id);
		if (id % 3 != 0)
			leaked++;
		sleep_ms(3);
	}
}
