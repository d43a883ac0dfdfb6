/*
 * ui_int.h - the web UI's compiled-in files, shared by ui.c and the file
 * scripts/ui-embed.sh generates from ui/ at build time.
 */
#ifndef NPROF_UI_INT_H
#define NPROF_UI_INT_H

#include <stddef.h>

/* One file of the UI, gzipped. */
struct nprof_ui_asset {
	const char *path;           /* below /debug/pprof/ui/: "app.js" */
	const char *type;           /* Content-Type */
	const unsigned char *gz;    /* gzip -9n of the file */
	size_t len;
};

/* Every file, terminated by a zero entry (generated). */
extern const struct nprof_ui_asset nprof__ui_assets[];

#endif /* NPROF_UI_INT_H */
