/* The rivulet-cart program: shared by its subcommands. */
#ifndef RV_CART_APP_H
#define RV_CART_APP_H

#include <stdbool.h>
#include <stdio.h>

#include "pipeline.h"
#include "query.h"
#include "store.h"

/* Exit codes scripts can trust. */
enum {
    APP_OK = 0,
    APP_FAILED = 1,  /* the work failed (a server error, a failed stream) */
    APP_USAGE = 2,   /* bad arguments or configuration: the message says which */
    APP_MISMATCH = 3 /* the work ran, and a check found a difference (rebuild, demo verdict) */
};

typedef struct app {
    rv_conf_t *conf;
    const char *argv0;
    /* subcommand options */
    int64_t idle_exit_ms; /* run: stop gracefully after this long without a new record (0: never) */
    int64_t crash_after;  /* run: SIGKILL itself after this many applied commands (tests, demo) */
    int64_t since_ms;     /* query events --since */
    const char *file;     /* publish --file */
    int carts, commands;  /* demo sizes */
    bool quiet;
    int nargs;
    char **args; /* positional arguments after the subcommand */
} app_t;

int app_run(app_t *a);
int app_publish(app_t *a);
int app_query(app_t *a);
int app_compensate(app_t *a);
int app_rebuild(app_t *a);
int app_demo(app_t *a);

/* Opens the configured store. Ownership: the caller closes it (app_close_store). */
cart_store_t *app_open_store(app_t *a, uv_loop_t *loop, rv_error_t **errp);
void app_close_store(cart_store_t *s, uv_loop_t *loop);

/* Runs loop until *flag is true. */
void app_wait(uv_loop_t *loop, const bool *flag);

/* Prints an error as "rivulet-cart: <message>" and returns code. */
int app_fail(int code, const char *what, rv_error_t *err);

#endif
