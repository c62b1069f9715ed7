/* Graphviz output: one node per stage with its counters, one edge per link with
 * its fill level, so a stuck pipeline shows where elements pile up. */
#include <inttypes.h>

#include "engine/engine.h"

static void dot_label(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', out);
        fputc(*s, out);
    }
}

void rv_graph_dot(rv_graph_t *g, FILE *out)
{
    fprintf(out, "digraph rivulet {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n");
    for (rv_stage_t *st = g->stages; st; st = st->next_all) {
        rv_stage_counters_t c;
        rv_stage_get_counters(st, &c);
        fprintf(out, "  s%d [label=\"", st->id);
        dot_label(out, st->name);
        fprintf(out,
                "\\n(%s)\\nin=%" PRIu64 " out=%" PRIu64 " queued=%" PRIu64 " in_flight=%" PRIu64
                "\\nwait=%.3f ms failures=%" PRIu64 "\"%s];\n",
                st->ops->kind, c.in, c.out, c.queued, c.in_flight, c.wait_ns / 1e6, c.failures,
                st->finished ? ", style=dashed" : "");
    }
    for (rv_stage_t *st = g->stages; st; st = st->next_all) {
        for (int i = 0; i < st->n_out; i++) {
            rv_edge_t *e = st->out[i];
            if (!e) continue;
            fprintf(out, "  s%d -> s%d [label=\"%" PRIu32 "/%" PRIu32 "%s\"];\n", st->id,
                    e->down->id, e->tail - e->head, e->cap,
                    e->cancelled                     ? " cancelled"
                    : e->up_state == RV_UP_COMPLETED ? " done"
                    : e->up_state == RV_UP_FAILED    ? " failed"
                                                     : "");
        }
    }
    fprintf(out, "}\n");
}
