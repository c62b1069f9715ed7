/* Opening the configured store for a subcommand. */
#include <string.h>

#include "app.h"

cart_store_t *app_open_store(app_t *a, uv_loop_t *loop, rv_error_t **errp)
{
    const char *kind = rv_conf_str(a->conf, &cart_conf_table, "cart.store");
    if (strcmp(kind, "sqlite") == 0)
        return cart_store_sqlite_open(
            loop, rv_conf_str(a->conf, &cart_conf_table, "cart.sqlite.path"), errp);
    return cart_store_cassandra_open(loop, a->conf, errp);
}

static void store_closed(void *opaque)
{
    *(bool *)opaque = true;
}

void app_close_store(cart_store_t *s, uv_loop_t *loop)
{
    bool done = false;
    s->ops->close(s, store_closed, &done);
    app_wait(loop, &done);
}
