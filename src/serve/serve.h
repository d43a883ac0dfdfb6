/*
 * serve.h - starting and stopping the HTTP server (http.c), as core.c
 * does.
 */
#ifndef NPROF_SERVE_H
#define NPROF_SERVE_H

/* Starts the unix socket and (if configured) TCP listeners. */
int nprof__http_start(void);
void nprof__http_stop(void);
/* After fork in the child: forget the parent's daemons without touching them. */
void nprof__http_forget(void);

#endif /* NPROF_SERVE_H */
